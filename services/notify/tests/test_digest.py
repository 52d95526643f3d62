"""The weekly digest for moderators: its pure composition, then the handlers and the loop against every reachable
database with a clock that stands still."""

from __future__ import annotations

import email
import email.policy
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.message import EmailMessage
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from kehrwasser_notify.adapters.digest import SqlDigestUnitOfWork
from kehrwasser_notify.adapters.tables import deliveries, messaging
from kehrwasser_notify.bootstrap import MIGRATIONS
from kehrwasser_notify.config import NotifySettings
from kehrwasser_notify.domain.calendars import Occurrence
from kehrwasser_notify.domain.digest import (
    DigestSchedule,
    HealthFigure,
    MeetingPlan,
    MemberLight,
    MembershipRequest,
    Person,
    Week,
    compose,
    digest_id,
    upcoming,
)
from kehrwasser_notify.domain.emails import MailLinks
from kehrwasser_notify.domain.model import Contact, MailPreferences, QuietHours
from kehrwasser_notify.service_layer import digest
from kehrwasser_notify.service_layer.handlers import Mailing
from kehrwasser_shared.contracts import alliances, ledger, make_event
from kehrwasser_shared.persistence.database import create_engine
from kehrwasser_shared.persistence.migrations import upgrade_to_head_async

SENDER = "Kehrwasser <noreply@kehrwasser.local>"
BERLIN = "Europe/Berlin"
MONDAY_7 = datetime(2026, 11, 30, 7, 0, tzinfo=UTC)
"""When week 49 of 2026's digest falls due by default (Monday 07:00 UTC)."""
WEEK_49 = Week(2026, 49)


def fortnightly(**changes: Any) -> MeetingPlan:
    """Hamburg's course check every other Tuesday at 18:00 in Berlin, from 1 December 2026."""
    fields: dict[str, Any] = {
        "meeting_id": "m-7",
        "alliance_id": "hamburg",
        "sequence": 1,
        "title": "Course check",
        "starts_at": datetime(2026, 12, 1, 17, 0, tzinfo=UTC),
        "timezone": BERLIN,
        "duration_minutes": 90,
        "location": "https://meet.example.org/hamburg",
        "rrule": "FREQ=WEEKLY;INTERVAL=2;BYDAY=TU",
    }
    return MeetingPlan(**{**fields, **changes})


# The schedule ----------------------------------------------------------------------------------------------


def test_a_digest_falls_due_at_its_hour_and_stays_due_until_the_week_ends() -> None:
    schedule = DigestSchedule()
    assert schedule.due_week(MONDAY_7 - timedelta(seconds=1)) is None
    assert schedule.due_week(MONDAY_7) == WEEK_49
    assert schedule.due_week(datetime(2026, 12, 6, 23, 59, tzinfo=UTC)) == WEEK_49
    assert schedule.due_week(datetime(2026, 12, 7, 6, 59, tzinfo=UTC)) is None


def test_the_hour_is_read_on_the_clocks_of_the_schedules_zone() -> None:
    schedule = DigestSchedule(weekday=2, hour=8, timezone=BERLIN)  # Wednesday 08:00 in Berlin: 07:00 UTC in winter
    assert schedule.due_week(datetime(2026, 12, 2, 6, 59, tzinfo=UTC)) is None
    assert schedule.due_week(datetime(2026, 12, 2, 7, 0, tzinfo=UTC)) == WEEK_49


def test_the_digest_settings_are_checked_at_start() -> None:
    settings = NotifySettings(digest_weekday="Friday", digest_hour=18, digest_timezone=BERLIN)
    assert settings.digest_schedule() == DigestSchedule(4, 18, BERLIN)
    with pytest.raises(ValueError, match="day of the week"):
        NotifySettings(digest_weekday="someday")
    with pytest.raises(ValueError, match="time zone"):
        NotifySettings(digest_timezone="Mars/Olympus")


def test_a_digest_has_one_id_per_alliance_and_week() -> None:
    assert digest_id("hamburg", WEEK_49) == digest_id("hamburg", Week(2026, 49))
    assert digest_id("hamburg", WEEK_49) != digest_id("hamburg", Week(2026, 50))
    assert digest_id("hamburg", WEEK_49) != digest_id("berlin", WEEK_49)


# Upcoming meetings -----------------------------------------------------------------------------------------


def test_a_series_lists_its_occurrences_of_the_next_seven_days_at_the_wall_clock_time() -> None:
    found = upcoming([fortnightly()], datetime(2026, 12, 14, tzinfo=UTC), datetime(2026, 12, 21, tzinfo=UTC))
    assert [o.starts_at for o in found] == [datetime(2026, 12, 15, 17, 0, tzinfo=UTC)]
    assert found[0].moved_from is None


def test_a_weekly_series_stays_at_18_oclock_in_berlin_when_summer_time_ends() -> None:
    weekly = fortnightly(starts_at=datetime(2026, 10, 20, 16, 0, tzinfo=UTC), rrule="FREQ=WEEKLY")  # 18:00 CEST
    found = upcoming([weekly], datetime(2026, 10, 19, tzinfo=UTC), datetime(2026, 11, 2, tzinfo=UTC))
    assert [o.starts_at for o in found] == [
        datetime(2026, 10, 20, 16, 0, tzinfo=UTC),
        datetime(2026, 10, 27, 17, 0, tzinfo=UTC),  # 18:00 CET
    ]


def test_cancelled_occurrences_are_left_out_and_moved_ones_shown_where_they_went() -> None:
    plan = fortnightly(
        starts_at=datetime(2026, 12, 1, 17, 0, tzinfo=UTC),
        rrule="FREQ=WEEKLY",
        exceptions=(
            Occurrence(datetime(2026, 12, 8, 17, 0, tzinfo=UTC), True),
            # The 15th moved into the window from outside it, the 1st out of it.
            Occurrence(
                datetime(2026, 12, 15, 17, 0, tzinfo=UTC),
                False,
                datetime(2026, 12, 10, 9, 0, tzinfo=UTC),
                60,
                "Café Kehrwasser",
            ),
            Occurrence(datetime(2026, 12, 1, 17, 0, tzinfo=UTC), False, datetime(2026, 11, 25, 17, 0, tzinfo=UTC)),
        ),
    )
    found = upcoming([plan], datetime(2026, 11, 30, 7, 0, tzinfo=UTC), datetime(2026, 12, 12, tzinfo=UTC))
    assert [(o.starts_at, o.location, o.duration_minutes, o.moved_from) for o in found] == [
        (datetime(2026, 12, 10, 9, 0, tzinfo=UTC), "Café Kehrwasser", 60, datetime(2026, 12, 15, 17, 0, tzinfo=UTC)),
    ]


def test_a_cancelled_meeting_an_ended_series_and_a_past_one_off_list_nothing() -> None:
    window = (datetime(2026, 12, 14, tzinfo=UTC), datetime(2026, 12, 21, tzinfo=UTC))
    assert upcoming([fortnightly(cancelled=True)], *window) == []
    assert upcoming([fortnightly(rrule="FREQ=WEEKLY;COUNT=2")], *window) == []
    assert upcoming([fortnightly(rrule="FREQ=WEEKLY;UNTIL=20261210T000000Z")], *window) == []
    assert upcoming([fortnightly(rrule=None)], *window) == []
    one_off = fortnightly(rrule=None, starts_at=datetime(2026, 12, 16, 8, 0, tzinfo=UTC))
    assert [o.starts_at for o in upcoming([one_off], *window)] == [datetime(2026, 12, 16, 8, 0, tzinfo=UTC)]


# Composition -----------------------------------------------------------------------------------------------


def test_the_digest_lists_red_before_yellow_leaves_green_out_and_names_who_it_knows() -> None:
    at = MONDAY_7
    health = HealthFigure(at, 5, 3, Decimal("42"), Decimal("0.4231"), 1, ("bob",), Decimal("1"), at)
    composed = compose(
        alliance_name="Hamburg Founders",
        week=WEEK_49,
        now=at,
        lights=[
            MemberLight("zoe", "yellow", at),
            MemberLight("linus", "red", at),
            MemberLight("ada", "green", at),
            MemberLight("bob", "yellow", at),
        ],
        health=health,
        requests=[MembershipRequest("eve", at - timedelta(days=1)), MembershipRequest("kim", at - timedelta(days=3))],
        meetings=[fortnightly()],
        names={"linus": "Linus Torvalds", "bob": "Bob Kahn", "zoe": "Zoe", "kim": "Kim"},
    )
    assert [(p.name, light) for p, light in composed.lights] == [
        ("Linus Torvalds", "red"),
        ("Bob Kahn", "yellow"),
        ("Zoe", "yellow"),
    ]
    assert composed.one_way == (Person("bob", "Bob Kahn"),)
    assert [(p.name, since.day) for p, since in composed.requests] == [("Kim", 27), ("eve", 29)]
    assert [o.starts_at for o in composed.meetings] == [datetime(2026, 12, 1, 17, 0, tzinfo=UTC)]


# Handlers and loop, in the database ------------------------------------------------------------------------

ADA = Contact("ada", "Ada Lovelace", "ada@example.org", "de")
GRACE = Contact("grace", "Grace Hopper", "grace@example.org", "en")
LINUS = Contact("linus", "Linus Torvalds", "linus@example.org", "en")
EVE = Contact("eve", "Eve Example", "eve@example.org", "en")


class StandingClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class Notify:
    def __init__(self, engine: AsyncEngine, clock: StandingClock, quiet_hours: QuietHours | None = None) -> None:
        self.engine = engine
        self.clock = clock
        self.mailing = Mailing(
            SENDER, clock, MailLinks("https://kehrwasser.example", "unsubscribe@example.org"), quiet_hours
        )

    def uow(self) -> SqlDigestUnitOfWork:
        return SqlDigestUnitOfWork(self.engine, messaging, source="/notify")

    def weekly(self) -> digest.WeeklyDigest:
        """A loop as a (re)started notify has it: nothing remembered but the database."""
        return digest.WeeklyDigest(DigestSchedule(), self.uow, self.mailing)

    async def know(self, *contacts: Contact, moderators: tuple[str, ...] = ("ada", "grace")) -> None:
        async with self.uow() as uow:
            for contact in contacts:
                await uow.contacts.save(contact)
            await uow.alliances.save("hamburg", "Hamburg Founders")
            await uow.moderators.appoint("hamburg", list(moderators))
            await uow.commit()

    async def digests(self) -> dict[str, tuple[str, str | None, datetime, EmailMessage]]:
        """Status, last error, due time and message of each digest delivery, by moderator."""
        async with self.engine.connect() as connection:
            rows = await connection.execute(select(deliveries).where(deliveries.c.kind == "digest"))
            return {r.member_id: (r.status, r.last_error, r.next_attempt_at, parsed(bytes(r.message))) for r in rows}


def parsed(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def plain(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    text = part.get_content()
    assert isinstance(text, str)
    return text


@pytest.fixture
async def notify(database_url: str) -> AsyncIterator[Notify]:
    await upgrade_to_head_async(MIGRATIONS, database_url)
    engine = create_engine(database_url)
    try:
        yield Notify(engine, StandingClock(MONDAY_7 - timedelta(hours=1)))
    finally:
        await engine.dispose()


def warning(member_id: str, light: ledger.TrafficLight, at: datetime) -> ledger.BalanceWarningV2:
    return ledger.BalanceWarningV2(
        alliance_id="hamburg",
        member_id=member_id,
        light=light,
        previous_light=ledger.TrafficLight.GREEN,
        reason=ledger.LightReason.BALANCE,
        balance=Decimal("-7"),
        threshold=Decimal("-5"),
        occurred_at=at,
    )


def health(period_start: datetime, gini: str, one_way: list[str]) -> ledger.AllianceHealthV1:
    return ledger.AllianceHealthV1(
        alliance_id="hamburg",
        period_start=period_start,
        period_seconds=3600,
        members=4,
        active_givers=2,
        total_given=Decimal("12.5"),
        gini=Decimal(gini),
        one_way_count=len(one_way),
        one_way_members=one_way,
        one_way_floor=Decimal("1"),
        computed_at=period_start + timedelta(minutes=7),
    )


def requested(member_id: str, at: datetime) -> alliances.MembershipRequestedV1:
    return alliances.MembershipRequestedV1(
        alliance_id="hamburg",
        member_id=member_id,
        message="",
        requested_at=at,
        alignment=alliances.Alignment(score=None, alliance_overlap=0, members_overlap=0, matching=[], missing=[]),
    )


def declined(member_id: str, at: datetime) -> alliances.MembershipDeclinedV1:
    return alliances.MembershipDeclinedV1(
        alliance_id="hamburg", member_id=member_id, decided_by="ada", reason="Not now", declined_at=at
    )


async def feed(notify: Notify, contract: Any, data: Any, note: Any) -> None:
    await note(make_event(type_=contract.type, source="/test", data=data), data, notify.uow())


@pytest.mark.integration
async def test_each_moderator_gets_one_digest_a_week_across_restarts(notify: Notify) -> None:
    await notify.know(ADA, GRACE, LINUS, EVE)
    day = MONDAY_7 - timedelta(days=2)
    await feed(notify, ledger.BALANCE_WARNING, warning("linus", ledger.TrafficLight.RED, day), digest.note_light)
    await feed(notify, ledger.ALLIANCE_HEALTH_PUBLISHED, health(day, "0.4231", ["linus"]), digest.note_health)
    await feed(notify, alliances.MEMBERSHIP_REQUESTED, requested("eve", day), digest.note_request)
    weekly = notify.weekly()
    assert await weekly.send_due() == 0  # Monday 06:00: not due yet
    notify.clock.now = MONDAY_7
    assert await weekly.send_due() == 2
    assert await weekly.send_due() == 0
    notify.clock.now = MONDAY_7 + timedelta(days=3)
    assert await notify.weekly().send_due() == 0  # a restarted notify finds this week's digests claimed
    recorded = await notify.digests()
    assert sorted(recorded) == ["ada", "grace"]
    text = plain(recorded["grace"][3])
    assert "Linus Torvalds: RED" in text
    assert "Gini coefficient of giving: 0.4231" in text
    assert "One-way flows: 1 – Linus Torvalds" in text
    assert "Eve Example, waiting since Saturday, 28 November 2026" in text
    assert "Tuesday, 1 December 2026, 18:00 (Europe/Berlin)" not in text  # no meeting known
    assert "Linus Torvalds: ROT" in plain(recorded["ada"][3])
    assert "Gini-Koeffizient des Gebens: 0,4231" in plain(recorded["ada"][3])
    notify.clock.now = MONDAY_7 + timedelta(days=7)
    assert await notify.weekly().send_due() == 2


@pytest.mark.integration
async def test_facts_that_arrive_out_of_order_keep_the_latest(notify: Notify) -> None:
    await notify.know(ADA, GRACE, LINUS, EVE)
    day = MONDAY_7 - timedelta(days=2)
    # Linus recovered after his warning, but the recovery came first; Eve's decline overtook her request.
    recovered = ledger.BalanceRecoveredV2(
        alliance_id="hamburg",
        member_id="linus",
        light=ledger.TrafficLight.GREEN,
        previous_light=ledger.TrafficLight.RED,
        balance=Decimal("1"),
        occurred_at=day,
    )
    await feed(notify, ledger.BALANCE_RECOVERED, recovered, digest.note_light)
    early = day - timedelta(hours=1)
    await feed(notify, ledger.BALANCE_WARNING, warning("linus", ledger.TrafficLight.RED, early), digest.note_light)
    await feed(notify, alliances.MEMBERSHIP_DECLINED, declined("eve", day), digest.note_declined)
    await feed(notify, alliances.MEMBERSHIP_REQUESTED, requested("eve", early), digest.note_request)
    await feed(notify, ledger.ALLIANCE_HEALTH_PUBLISHED, health(day, "0.1", []), digest.note_health)
    await feed(notify, ledger.ALLIANCE_HEALTH_PUBLISHED, health(early, "0.9", ["linus"]), digest.note_health)
    notify.clock.now = MONDAY_7
    await notify.weekly().send_due()
    text = plain((await notify.digests())["grace"][3])
    assert "Every member is green." in text
    assert "OPEN REQUESTS TO JOIN\nNone." in text
    assert "Gini coefficient of giving: 0.10" in text
    # Eve asks again after the decline: open again.
    await feed(notify, alliances.MEMBERSHIP_REQUESTED, requested("eve", day + timedelta(hours=1)), digest.note_request)
    async with notify.uow() as uow:
        assert [r.member_id for r in await uow.digest.open_requests("hamburg")] == ["eve"]


@pytest.mark.integration
async def test_the_digest_lists_the_meetings_of_the_next_seven_days_as_the_latest_event_has_them(
    notify: Notify,
) -> None:
    await notify.know(ADA, GRACE)
    series = dict(
        meeting_id="m-7",
        uid="m-7@kehrwasser",
        sequence=1,
        alliance_id="hamburg",
        alliance_name="Hamburg Founders",
        title="Course check",
        agenda="",
        starts_at=datetime(2026, 12, 1, 17, 0, tzinfo=UTC),
        timezone=BERLIN,
        duration_minutes=90,
        location="Hafen 1",
        rrule="FREQ=WEEKLY",
        organizer_id="ada",
        attendee_ids=["ada", "grace"],
    )
    moved = alliances.OccurrenceException(
        recurrence_id=datetime(2026, 12, 1, 17, 0, tzinfo=UTC),
        cancelled=False,
        starts_at=datetime(2026, 12, 2, 17, 0, tzinfo=UTC),
    )
    rescheduled = alliances.OccurrenceRescheduledV1(
        **{**series, "sequence": 2},
        exceptions=[moved],
        recurrence_id=moved.recurrence_id,
        occurrence_starts_at=datetime(2026, 12, 2, 17, 0, tzinfo=UTC),
        occurrence_duration_minutes=90,
        occurrence_location="Hafen 1",
        decided_by="ada",
        decided_at=MONDAY_7 - timedelta(days=1),
    )
    await feed(notify, alliances.OCCURRENCE_RESCHEDULED, rescheduled, digest.note_meeting)
    updated = alliances.MeetingUpdatedV1(**series, exceptions=[], updated_by="ada", updated_at=MONDAY_7)  # older
    await feed(notify, alliances.MEETING_UPDATED, updated, digest.note_meeting)
    notify.clock.now = MONDAY_7
    await notify.weekly().send_due()
    text = plain((await notify.digests())["grace"][3])
    assert (
        "- Wednesday, 2 December 2026, 18:00 (Europe/Berlin): Course check, Hafen 1 "
        "(moved from Tuesday, 1 December 2026, 18:00 (Europe/Berlin))"
    ) in text
    assert "Tuesday, 1 December 2026, 18:00 (Europe/Berlin): Course check" not in text
    cancelled = alliances.MeetingCancelledV1(
        **{**series, "sequence": 3}, exceptions=[], cancelled_by="ada", reason="", cancelled_at=MONDAY_7
    )
    await feed(notify, alliances.MEETING_CANCELLED, cancelled, digest.note_meeting)
    async with notify.uow() as uow:
        assert await uow.digest.meetings("hamburg") == []


@pytest.mark.integration
async def test_a_moderator_who_turned_the_digest_off_gets_it_logged_suppressed(notify: Notify) -> None:
    await notify.know(ADA, GRACE)
    async with notify.uow() as uow:
        await uow.preferences.save(MailPreferences("ada", frozenset({"digest"}), "tok-ada"))
        await uow.preferences.save(MailPreferences("grace", frozenset(), "tok-grace"))
        await uow.commit()
    notify.clock.now = MONDAY_7
    await notify.weekly().send_due()
    recorded = await notify.digests()
    assert recorded["ada"][:2] == ("suppressed", "suppressed: the member turned off digest mail")
    assert recorded["grace"][0] == "pending"
    unsubscribe = recorded["grace"][3]["List-Unsubscribe"]
    assert "https://kehrwasser.example/unsubscribe?token=tok-grace&category=digest" in unsubscribe


@pytest.mark.integration
async def test_a_digest_in_a_moderators_quiet_hours_waits_until_they_end(database_url: str) -> None:
    await upgrade_to_head_async(MIGRATIONS, database_url)
    engine = create_engine(database_url)
    try:
        notify = Notify(engine, StandingClock(MONDAY_7), QuietHours(22, 9))  # 08:00 in Berlin: still quiet
        await notify.know(ADA, GRACE)
        await notify.weekly().send_due()
        assert (await notify.digests())["ada"][2] == datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
    finally:
        await engine.dispose()


@pytest.mark.integration
async def test_an_archived_alliance_and_one_without_a_known_moderator_contact_get_nothing(notify: Notify) -> None:
    await notify.know(ADA, moderators=("ada", "nobody-known"))
    notify.clock.now = MONDAY_7
    assert await notify.weekly().send_due() == 1  # Ada's; the moderator without a contact is skipped
    archived = alliances.AllianceArchivedV1(alliance_id="hamburg", archived_by="ada", reason="", archived_at=MONDAY_7)
    await feed(notify, alliances.ALLIANCE_ARCHIVED, archived, digest.note_archived)
    notify.clock.now = MONDAY_7 + timedelta(days=7)
    assert await notify.weekly().send_due() == 0


async def test_an_alliance_founded_after_the_digest_fell_due_gets_its_first_the_next_week(notify: Notify) -> None:
    await notify.know(ADA, GRACE)  # Hamburg, known before notify kept founding dates: digested
    async with notify.uow() as uow:
        await uow.alliances.save("kiel", "Kiel Founders", founded_at=MONDAY_7 + timedelta(hours=2))
        await uow.moderators.appoint("kiel", ["ada"])
        await uow.commit()
    notify.clock.now = MONDAY_7 + timedelta(hours=3)
    assert await notify.weekly().send_due() == 2  # Hamburg's two moderators, not Kiel's founder
    notify.clock.now = MONDAY_7 + timedelta(days=7)
    assert await notify.weekly().send_due() == 3  # the next week: Hamburg's two and Kiel's one
