"""The ledger's signals in the alliances service: the "needs a word" rule, points to discuss, and the
handlers that learn them, against the in-memory unit of work."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from kehrwasser_alliances.domain import model, signals
from kehrwasser_alliances.service_layer import handlers, meetings
from kehrwasser_alliances.service_layer import signals as use_cases
from kehrwasser_shared.contracts import alliances as contracts
from kehrwasser_shared.contracts import ledger as ledger_contracts
from kehrwasser_shared.contracts import make_event
from kehrwasser_shared.contracts.envelope import CloudEvent

from .test_handlers import NOON, FakeAlliancesUnitOfWork, hamburg

NO_RECORD = signals.AttendanceRecord(0, 0)


def red(member_id: str, balance: str = "-12", at: datetime = NOON) -> signals.LightSignal:
    return signals.LightSignal(member_id, "red", Decimal(balance), "balance", at, at)


def test_a_red_one_way_member_with_low_alignment_weighs_most_and_each_reason_is_in_words() -> None:
    seller = signals.concern_of(
        "linus", light=red("linus"), one_way=True, alignment=10, alignment_threshold=30, attendance=NO_RECORD
    )
    assert seller.concern == signals.WEIGHT_RED + signals.WEIGHT_ONE_WAY + signals.WEIGHT_LOW_ALIGNMENT
    assert seller.reasons == (
        "light red: balance -12.00",
        signals.ONE_WAY_WORDS,
        "direction alignment 10 below the alliance's 30",
    )


def test_attendance_counts_only_from_three_recorded_occurrences_and_below_half() -> None:
    def reasons(recorded: int, attended: int) -> tuple[str, ...]:
        record = signals.AttendanceRecord(recorded, attended)
        return signals.concern_of(
            "grace", light=None, one_way=False, alignment=None, alignment_threshold=30, attendance=record
        ).reasons

    assert reasons(2, 0) == ()
    assert reasons(4, 2) == ()
    assert reasons(4, 1) == ("came to 1 of 4 meetings with recorded attendance",)


def test_the_list_leaves_out_members_without_a_reason_and_pages_by_concern_then_id() -> None:
    concerns = signals.by_concern(
        [
            signals.Concern("ada", 0, ()),
            signals.Concern("grace", 1, ("light yellow: balance -1.00",)),
            signals.Concern("linus", 6, ("a", "b")),
            signals.Concern("alan", 1, ("c",)),
        ]
    )
    assert [c.member_id for c in concerns] == ["linus", "alan", "grace"]
    assert signals.after_cursor(concerns, signals.cursor_of(concerns[1])) == concerns[2:]


def test_an_older_light_event_arriving_late_changes_nothing() -> None:
    newer = red("grace", at=NOON)
    older = signals.LightSignal("grace", "yellow", Decimal("-3"), "balance", NOON, NOON - timedelta(minutes=1))
    assert signals.light_changed(newer, older) is None
    assert signals.light_changed(older, newer) == newer


def test_points_name_members_at_red_before_yellow_and_then_one_way_flows_of_current_members() -> None:
    flows = signals.FlowSignals(NOON, {"linus": NOON, "gone": NOON})
    yellow = signals.LightSignal("ada", "yellow", Decimal("-2"), "inactivity", NOON, NOON)
    points = signals.points_to_discuss(
        [yellow, red("grace")], flows, {"grace": "Grace Hopper", "ada": "Ada"}, ["ada", "grace", "linus"]
    )
    assert [p.text for p in points] == [
        "Grace Hopper: red, balance -12.00",
        "Ada: yellow, nothing given within the inactivity window, balance -2.00",
        f"linus: {signals.ONE_WAY_WORDS}",
    ]


def test_a_later_health_event_replaces_the_flows_and_keeps_since_when_someone_is_listed() -> None:
    earlier = signals.FlowSignals(NOON, {"linus": NOON})
    later = earlier.followed_by(NOON + timedelta(hours=1), ["linus", "grace"], NOON + timedelta(hours=1))
    assert later is not None
    assert later.one_way_since == {"linus": NOON, "grace": NOON + timedelta(hours=1)}
    assert earlier.followed_by(NOON - timedelta(hours=1), [], NOON) is None


def warning(alliance_id: str, member_id: str) -> tuple[CloudEvent, ledger_contracts.BalanceWarningV2]:
    data = ledger_contracts.BalanceWarningV2(
        alliance_id=alliance_id,
        member_id=member_id,
        light=ledger_contracts.TrafficLight.RED,
        previous_light=ledger_contracts.TrafficLight.GREEN,
        reason=ledger_contracts.LightReason.BALANCE,
        balance=Decimal("-12"),
        threshold=Decimal("-10"),
        occurred_at=NOON,
    )
    return make_event(type_=ledger_contracts.BALANCE_WARNING.type, source="/ledger", data=data), data


async def test_a_member_gone_red_is_a_point_of_the_next_meeting_and_needs_a_word() -> None:
    uow = FakeAlliancesUnitOfWork("ada", "grace")
    alliance = await hamburg(uow)
    join = contracts.JoinAlliance(alliance_id=alliance.alliance_id, member_id="grace")
    await handlers.join_alliance(join, uow, lambda: NOON)
    event, data = warning(alliance.alliance_id, "grace")
    await use_cases.learn_warning(event, data, uow)
    await use_cases.learn_warning(event, data, uow)  # redelivered: the inbox drops it

    schedule = contracts.ScheduleMeeting(
        alliance_id=alliance.alliance_id,
        requested_by="ada",
        title="Course check",
        starts_at=datetime(2026, 12, 1, 18, 0),
        timezone="Europe/Berlin",
    )
    view = await meetings.schedule_meeting(schedule, uow, lambda: NOON)
    assert [p.issue for p in view.points_to_discuss] == ["red"]
    scheduled = uow.emitted[-1][1]
    assert scheduled.points_to_discuss == ["someone: red, balance -12.00"]  # type: ignore[attr-defined]

    page = await use_cases.needs_a_word(contracts.NeedsAWord(alliance_id=alliance.alliance_id, requested_by="ada"), uow)
    assert [(m.member_id, m.light, m.balance, m.reasons) for m in page.items] == [
        ("grace", "red", Decimal("-12.00"), ["light red: balance -12.00"])
    ]
    with pytest.raises(model.NotAModerator):
        await use_cases.needs_a_word(contracts.NeedsAWord(alliance_id=alliance.alliance_id, requested_by="grace"), uow)


async def test_missed_meetings_are_counted_from_recorded_attendance() -> None:
    uow = FakeAlliancesUnitOfWork("ada", "grace")
    alliance = await hamburg(uow)
    await handlers.join_alliance(
        contracts.JoinAlliance(alliance_id=alliance.alliance_id, member_id="grace"), uow, lambda: NOON
    )
    first = datetime(2026, 12, 1, 18, 0)
    meeting = await meetings.schedule_meeting(
        contracts.ScheduleMeeting(
            alliance_id=alliance.alliance_id,
            requested_by="ada",
            title="Weekly",
            starts_at=first,
            timezone="Europe/Berlin",
            rrule="FREQ=WEEKLY",
        ),
        uow,
        lambda: NOON,
    )
    later = datetime(2027, 1, 1, tzinfo=UTC)
    for week in range(3):
        await meetings.record_attendance(
            contracts.RecordAttendance(
                meeting_id=meeting.meeting_id,
                requested_by="ada",
                recurrence_id=first + timedelta(weeks=week),
                attended=["ada"],
            ),
            uow,
            lambda: later,
        )
    page = await use_cases.needs_a_word(contracts.NeedsAWord(alliance_id=alliance.alliance_id, requested_by="ada"), uow)
    assert [(m.member_id, m.meetings_recorded, m.meetings_attended) for m in page.items] == [("grace", 3, 0)]
    assert page.items[0].reasons == ["came to 0 of 3 meetings with recorded attendance"]
