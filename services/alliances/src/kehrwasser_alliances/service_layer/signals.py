"""The ledger's signals in the alliances service: learned from its events, shown as points to discuss on the
agenda of the next meeting and as the moderators' "needs a word" list (the rule: `domain/signals.py`)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal

from kehrwasser_shared.contracts import alliances as contracts
from kehrwasser_shared.contracts import ledger as ledger_contracts
from kehrwasser_shared.contracts.envelope import CloudEvent
from kehrwasser_shared.messaging.consumer import Subscription

from ..domain import model, signals
from ..domain.alignment import align
from .unit_of_work import AlliancesUnitOfWork

LEDGER_CONSUMER = "alliances-from-ledger"


def subscriptions(uow: Callable[[], AlliancesUnitOfWork]) -> list[Subscription]:
    return [
        Subscription(ledger_contracts.BALANCE_WARNING, lambda e, d: learn_warning(e, d, uow())),
        Subscription(ledger_contracts.BALANCE_RECOVERED, lambda e, d: learn_recovery(e, d, uow())),
        Subscription(ledger_contracts.ALLIANCE_HEALTH_PUBLISHED, lambda e, d: learn_health(e, d, uow())),
    ]


async def learn_warning(event: CloudEvent, data: ledger_contracts.BalanceWarningV2, uow: AlliancesUnitOfWork) -> None:
    await _learn_light(
        event, data.alliance_id, data.member_id, data.light, data.balance, data.reason, data.occurred_at, uow
    )


async def learn_recovery(
    event: CloudEvent, data: ledger_contracts.BalanceRecoveredV2, uow: AlliancesUnitOfWork
) -> None:
    # A recovery to yellow keeps the cause of the warning unknown here: the balance is what it names.
    await _learn_light(
        event, data.alliance_id, data.member_id, data.light, data.balance, "balance", data.occurred_at, uow
    )


async def learn_health(event: CloudEvent, data: ledger_contracts.AllianceHealthV1, uow: AlliancesUnitOfWork) -> None:
    """The one-way flows of the alliance's latest period replace the earlier ones."""
    async with uow:
        if not await uow.claim_event(LEDGER_CONSUMER, event.id):
            return
        current = await uow.signals.flows(data.alliance_id)
        if current is None:
            flows: signals.FlowSignals | None = signals.FlowSignals(
                data.period_start, dict.fromkeys(data.one_way_members, data.computed_at)
            )
        else:
            flows = current.followed_by(data.period_start, data.one_way_members, data.computed_at)
        if flows is not None:
            await uow.signals.save_flows(data.alliance_id, flows)
        await uow.commit()


async def _learn_light(
    event: CloudEvent,
    alliance_id: str,
    member_id: str,
    light: str,
    balance: Decimal,
    reason: str,
    occurred_at: datetime,
    uow: AlliancesUnitOfWork,
) -> None:
    async with uow:
        if not await uow.claim_event(LEDGER_CONSUMER, event.id):
            return
        current = (await uow.signals.lights(alliance_id)).get(member_id)
        new = signals.LightSignal(member_id, str(light), balance, str(reason), occurred_at, occurred_at)
        changed = signals.light_changed(current, new)
        if changed is not None:
            await uow.signals.save_light(alliance_id, changed)
        await uow.commit()


async def points_for(uow: AlliancesUnitOfWork, alliance: model.Alliance) -> list[signals.Point]:
    """The alliance's open balance issues now, for the agenda of its next meeting (inside the caller's uow)."""
    members = list(alliance.members)
    known = await uow.known_members.get_many(members)
    names = {m: k.name for m, k in known.items()}
    lights = (await uow.signals.lights(alliance.alliance_id)).values()
    points = signals.points_to_discuss(lights, await uow.signals.flows(alliance.alliance_id), names, members)
    return points[: contracts.MAX_POINTS_TO_DISCUSS]


def point_view(point: signals.Point) -> contracts.PointToDiscuss:
    return contracts.PointToDiscuss(
        member_id=point.member_id,
        issue=point.issue,
        text=point.text,
        since=point.since,
    )


async def needs_a_word(query: contracts.NeedsAWord, uow: AlliancesUnitOfWork) -> contracts.NeedsAWordPage:
    async with uow:
        alliance = await uow.alliances.get(query.alliance_id)
        if alliance is None:
            raise model.UnknownAlliance(query.alliance_id)
        model.check_moderator(alliance, query.requested_by)
        members = list(alliance.members)
        known = await uow.known_members.get_many(members)
        lights = await uow.signals.lights(alliance.alliance_id)
        flows = await uow.signals.flows(alliance.alliance_id)
        attendance = await _attendance(uow, alliance.alliance_id)
    focus = {m: known[m].focus if m in known else () for m in members}
    one_way = set(flows.one_way_since) if flows is not None else set()
    alignments = {
        m: align(focus[m], alliance.focus, [f for other, f in focus.items() if other != m]).score for m in members
    }
    records = {m: attendance.get(m, signals.AttendanceRecord(0, 0)) for m in members}
    concerns = signals.by_concern(
        signals.concern_of(
            m,
            light=lights.get(m),
            one_way=m in one_way,
            alignment=alignments[m],
            alignment_threshold=alliance.alignment_threshold,
            attendance=records[m],
        )
        for m in members
    )
    following = signals.after_cursor(concerns, query.cursor)
    page = following[: query.limit]
    items = [
        contracts.MemberSignals(
            member_id=c.member_id,
            name=known[c.member_id].name if c.member_id in known else "",
            concern=c.concern,
            reasons=list(c.reasons),
            light=lights[c.member_id].light if c.member_id in lights else signals.GREEN,
            balance=lights[c.member_id].balance if c.member_id in lights else None,
            one_way_flow=c.member_id in one_way,
            alignment=alignments[c.member_id],
            meetings_recorded=records[c.member_id].recorded,
            meetings_attended=records[c.member_id].attended,
        )
        for c in page
    ]
    more = len(following) > query.limit
    return contracts.NeedsAWordPage(items=items, next_cursor=signals.cursor_of(page[-1]) if more else None)


async def _attendance(uow: AlliancesUnitOfWork, alliance_id: str) -> dict[str, signals.AttendanceRecord]:
    """Per member: occurrences with recorded attendance they were invited to, and how many they came to."""
    recorded: dict[str, int] = {}
    attended: dict[str, int] = {}
    after: str | None = None
    while True:
        page = await uow.alliances.meetings_of(alliance_id, include_cancelled=True, after=after, limit=100)
        for meeting in page:
            for record in await uow.alliances.attendance_of(meeting.meeting_id):
                for member_id in (*record.attended_ids, *record.absent_ids):
                    recorded[member_id] = recorded.get(member_id, 0) + 1
                for member_id in record.attended_ids:
                    attended[member_id] = attended.get(member_id, 0) + 1
        if len(page) < 100:
            break
        after = page[-1].meeting_id
    return {m: signals.AttendanceRecord(n, attended.get(m, 0)) for m, n in recorded.items()}
