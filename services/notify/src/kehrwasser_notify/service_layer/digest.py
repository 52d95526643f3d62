"""The weekly digest for moderators: the facts notify keeps for it, and the loop that queues it.

Facts come from events notify consumes anyway (and ``alliance-health``, ``alliance-archived``): each is noted in
a transaction of its own, claimed in the inbox under `DIGEST_CONSUMER` when the same event also has a mail
handler (which claims it under its durable), under the durable when noting is all notify does with it. Facts
are kept order-independent: a light or health figure replaces the kept one only when newer, a meeting only with
a SEQUENCE at least as high, a request is open while its latest request is after its latest closing.

The loop looks every `TICK` whether this week's digest has fallen due (`DigestSchedule`); that costs a clock
reading, no query, until it has. Then for each alliance with moderators that is not archived and was founded by
the hour the digest fell due (a new one waits for the next week's) it claims the
digest's id (alliance and week, `digest.digest_id`) and queues one delivery per moderator in the same
transaction, so each moderator gets one digest per alliance and week across restarts and notify instances.
"""

from __future__ import annotations

import abc
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from email.message import EmailMessage
from typing import Any, NamedTuple

from kehrwasser_shared.contracts import alliances as alliance_contracts
from kehrwasser_shared.contracts import ledger as ledger_contracts
from kehrwasser_shared.contracts.envelope import CloudEvent
from kehrwasser_shared.runtime import BackgroundLoop, every

from ..domain import emails, model
from ..domain.calendars import Occurrence
from ..domain.digest import (
    Digest,
    DigestSchedule,
    HealthFigure,
    MeetingPlan,
    MemberLight,
    MembershipRequest,
    Week,
    compose,
    digest_id,
)
from .handlers import Mailing, Preferred, delivery_for, queue_deliveries
from .unit_of_work import NotifyUnitOfWork

log = logging.getLogger(__name__)

DIGEST_CONSUMER = "notify-digest"
"""The inbox name under which facts are noted from events that also have a mail handler, and digests claimed."""
KIND = "digest"
TICK = 60.0
"""Seconds between two looks whether a digest is due: how late at most a digest starts."""


class DigestFacts(abc.ABC):
    """What notify keeps for the digest, per alliance."""

    @abc.abstractmethod
    async def note_light(self, alliance_id: str, light: MemberLight) -> None:
        """Keep the member's light unless a newer one is kept (``as_of``)."""

    @abc.abstractmethod
    async def lights(self, alliance_id: str) -> list[MemberLight]: ...

    @abc.abstractmethod
    async def note_health(self, alliance_id: str, figure: HealthFigure) -> None:
        """Keep the figure unless one of a later period is kept."""

    @abc.abstractmethod
    async def health(self, alliance_id: str) -> HealthFigure | None: ...

    @abc.abstractmethod
    async def note_request(self, alliance_id: str, member_id: str, at: datetime) -> None: ...

    @abc.abstractmethod
    async def close_request(self, alliance_id: str, member_id: str, at: datetime) -> None:
        """The request was answered (joined, declined): closed unless a later request came."""

    @abc.abstractmethod
    async def open_requests(self, alliance_id: str) -> list[MembershipRequest]: ...

    @abc.abstractmethod
    async def note_meeting(self, plan: MeetingPlan) -> None:
        """Keep the plan unless one with a higher sequence is kept."""

    @abc.abstractmethod
    async def meetings(self, alliance_id: str) -> list[MeetingPlan]:
        """The alliance's meetings that are not cancelled."""

    @abc.abstractmethod
    async def archive(self, alliance_id: str, at: datetime) -> None: ...

    @abc.abstractmethod
    async def alliances_to_digest(self, due: datetime) -> list[str]:
        """Alliances whose name notify knows, founded by ``due`` (or before notify kept the date), with
        moderators, not archived."""


class DigestUnitOfWork(NotifyUnitOfWork):
    digest: DigestFacts


DigestUow = Callable[[], DigestUnitOfWork]


async def _note(
    uow: DigestUnitOfWork, consumer: str, event: CloudEvent, change: Callable[[DigestFacts], Awaitable[None]]
) -> None:
    async with uow:
        if not await uow.claim_event(consumer, event.id):
            return
        await change(uow.digest)
        await uow.commit()


async def note_light(
    event: CloudEvent,
    data: ledger_contracts.BalanceWarningV2 | ledger_contracts.BalanceRecoveredV2,
    uow: DigestUnitOfWork,
    consumer: str = DIGEST_CONSUMER,
) -> None:
    """A warning or a recovery: the member's light as of then."""
    light = MemberLight(data.member_id, data.light.value, data.occurred_at)
    await _note(uow, consumer, event, lambda facts: facts.note_light(data.alliance_id, light))


async def note_health(event: CloudEvent, data: ledger_contracts.AllianceHealthV1, uow: DigestUnitOfWork,
                      consumer: str = DIGEST_CONSUMER) -> None:  # fmt: skip
    figure = HealthFigure(
        period_start=data.period_start,
        members=data.members,
        active_givers=data.active_givers,
        total_given=data.total_given,
        gini=data.gini,
        one_way_count=data.one_way_count,
        one_way_members=tuple(data.one_way_members),
        one_way_floor=data.one_way_floor,
        computed_at=data.computed_at,
    )
    await _note(uow, consumer, event, lambda facts: facts.note_health(data.alliance_id, figure))


async def note_request(event: CloudEvent, data: alliance_contracts.MembershipRequestedV1, uow: DigestUnitOfWork,
                       consumer: str = DIGEST_CONSUMER) -> None:  # fmt: skip
    await _note(uow, consumer, event, lambda f: f.note_request(data.alliance_id, data.member_id, data.requested_at))


async def note_joined(event: CloudEvent, data: alliance_contracts.MemberJoinedV1, uow: DigestUnitOfWork,
                      consumer: str = DIGEST_CONSUMER) -> None:  # fmt: skip
    """A member joined: a request of theirs is answered (approved, or overtaken by an accepted invitation)."""
    await _note(uow, consumer, event, lambda f: f.close_request(data.alliance_id, data.member_id, data.joined_at))


async def note_declined(event: CloudEvent, data: alliance_contracts.MembershipDeclinedV1, uow: DigestUnitOfWork,
                        consumer: str = DIGEST_CONSUMER) -> None:  # fmt: skip
    """Declined by a moderator, or withdrawn (the alliances service declines a waiting request of one who left
    the network or was suspended: there is no event of its own for a withdrawal)."""
    await _note(uow, consumer, event, lambda f: f.close_request(data.alliance_id, data.member_id, data.declined_at))


async def note_departure(
    event: CloudEvent,
    data: alliance_contracts.MemberLeftV1 | alliance_contracts.MemberRemovedV1,
    uow: DigestUnitOfWork,
    consumer: str = DIGEST_CONSUMER,
) -> None:
    """One who left or was removed is no longer listed with a light (green as of their departure)."""
    at = data.left_at if isinstance(data, alliance_contracts.MemberLeftV1) else data.removed_at
    await _note(
        uow, consumer, event, lambda f: f.note_light(data.alliance_id, MemberLight(data.member_id, "green", at))
    )


async def note_meeting(
    event: CloudEvent,
    data: alliance_contracts.MeetingScheduledV1 | alliance_contracts.MeetingSeriesV1,
    uow: DigestUnitOfWork,
    consumer: str = DIGEST_CONSUMER,
) -> None:
    """The meeting as the event has it; a cancelled one (``meeting-cancelled``) is no longer listed."""
    plan = meeting_plan(data)
    await _note(uow, consumer, event, lambda facts: facts.note_meeting(plan))


def meeting_plan(data: alliance_contracts.MeetingScheduledV1 | alliance_contracts.MeetingSeriesV1) -> MeetingPlan:
    exceptions = getattr(data, "exceptions", [])
    return MeetingPlan(
        meeting_id=data.meeting_id,
        alliance_id=data.alliance_id,
        sequence=data.sequence,
        title=data.title,
        starts_at=data.starts_at,
        timezone=data.timezone,
        duration_minutes=data.duration_minutes,
        location=data.location,
        rrule=data.rrule,
        exceptions=tuple(
            Occurrence(o.recurrence_id, o.cancelled, o.starts_at, o.duration_minutes, o.location) for o in exceptions
        ),
        cancelled=isinstance(data, alliance_contracts.MeetingCancelledV1),
    )


async def note_archived(event: CloudEvent, data: alliance_contracts.AllianceArchivedV1, uow: DigestUnitOfWork,
                        consumer: str = DIGEST_CONSUMER) -> None:  # fmt: skip
    """An archived alliance gets no digest any more."""
    await _note(uow, consumer, event, lambda facts: facts.archive(data.alliance_id, data.archived_at))


class DigestCause(NamedTuple):
    """What a digest's deliveries are caused by, in place of an event: the digest's own id."""

    id: str


async def queue_digest(alliance_id: str, week: Week, uow: DigestUnitOfWork, mailing: Mailing) -> int:
    """Queue the alliance's digest of ``week`` to each of its moderators, unless it was queued before (here or
    by another notify); how many deliveries were queued. A moderator whose contact is not known yet gets none."""
    cause = DigestCause(digest_id(alliance_id, week))
    async with uow:
        if not await uow.claim_event(DIGEST_CONSUMER, cause.id):
            return 0
        now, moderators = mailing.clock(), await uow.moderators.of(alliance_id)
        digest, contacts = await _compose(alliance_id, week, uow, now, moderators)
        for missing in (m for m in moderators if m not in contacts):
            log.warning("digest %s of %s: moderator %r has no contact yet, skipped", week.label, alliance_id, missing)
        recipients = [m for m in moderators if m in contacts]
        preferences = await uow.preferences.get_many(recipients)
        preferred = Preferred(KIND, preferences, mailing.links, quiet_hours=mailing.quiet_hours)
        shown = context(digest)

        def build(contact: model.Contact, message_id: str, unsubscribe: emails.Unsubscribe | None) -> EmailMessage:
            return emails.notice(sender=mailing.sender, contact=contact, kind=KIND, context=shown,
                                 message_id=message_id, now=now, unsubscribe=unsubscribe)  # fmt: skip

        deliveries = [delivery_for(cause, KIND, contacts[m], build, now, preferred) for m in recipients]
        await queue_deliveries(uow, deliveries, now)
        await uow.commit()
    return len(deliveries)


async def _compose(
    alliance_id: str, week: Week, uow: DigestUnitOfWork, now: datetime, moderators: list[str]
) -> tuple[Digest, dict[str, model.Contact]]:
    """The digest and the contacts of everyone it names or goes to."""
    facts = uow.digest
    lights, health = await facts.lights(alliance_id), await facts.health(alliance_id)
    requests, meetings = await facts.open_requests(alliance_id), await facts.meetings(alliance_id)
    named = [light.member_id for light in lights] + [r.member_id for r in requests]
    named += list(health.one_way_members) if health else []
    contacts = await uow.contacts.get_many(sorted({*named, *moderators}))
    digest = compose(
        alliance_name=await uow.alliances.get(alliance_id) or alliance_id,
        week=week,
        now=now,
        lights=lights,
        health=health,
        requests=requests,
        meetings=meetings,
        names={member_id: contact.name for member_id, contact in contacts.items()},
    )
    return digest, contacts


def context(digest: Digest) -> dict[str, Any]:
    """What the digest templates show."""
    return {
        "alliance": digest.alliance_name,
        "week": digest.week.label,
        "monday": digest.week.monday,
        "lights": [{"name": person.name, "light": light} for person, light in digest.lights],
        "health": digest.health,
        "one_way": [person.name for person in digest.one_way],
        "requests": [{"name": person.name, "since": since} for person, since in digest.requests],
        "meetings": digest.meetings,
    }


class WeeklyDigest:
    """Queues each week's digests once they fall due (see the module's docstring)."""

    def __init__(self, schedule: DigestSchedule, uow: DigestUow, mailing: Mailing, tick: float = TICK) -> None:
        self._schedule = schedule
        self._uow = uow
        self._mailing = mailing
        self._tick = tick
        self._done: Week | None = None
        """The week whose digests this process has queued (or found queued) for every alliance."""

    def loop(self) -> BackgroundLoop:
        return every(self._tick, self.send_due, "queueing the weekly digests")

    async def send_due(self) -> int:
        """Queue the digests of the week if due and not done yet; how many deliveries were queued. An alliance
        whose digest fails is tried again at the next tick; the others are not held up by it."""
        week = self._schedule.due_week(self._mailing.clock())
        if week is None or week == self._done:
            return 0
        async with self._uow() as uow:
            alliance_ids = await uow.digest.alliances_to_digest(self._schedule.due_at(week))
        queued, failed = 0, 0
        for alliance_id in alliance_ids:
            try:
                queued += await queue_digest(alliance_id, week, self._uow(), self._mailing)
            except Exception:
                # Also a race lost to another notify instance claiming the same digest: the next tick finds
                # its claim and moves on.
                log.exception("the digest %s of alliance %s failed; tried again in %.0fs", week.label, alliance_id,
                              self._tick)  # fmt: skip
                failed += 1
        if not failed:
            self._done = week
        if queued:
            log.info("queued %d digests of %s", queued, week.label)
        return queued
