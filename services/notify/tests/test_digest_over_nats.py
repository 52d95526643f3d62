"""The weekly digest end to end: events over a real nats-server, the digest loop of the running service driven by
a clock that stands still until the test moves it, the mail read from a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.js.api import ConsumerInfo
from nats.js.client import JetStreamContext

from kehrwasser_notify.bootstrap import bootstrap
from kehrwasser_notify.config import NotifySettings
from kehrwasser_notify.service_layer import handlers
from kehrwasser_shared.contracts import alliances, ledger, make_event, members
from kehrwasser_shared.contracts.subjects import stream_name
from kehrwasser_shared.embedded.mail_sink import MailSink
from kehrwasser_shared.testing import examples, running

from .test_notify_over_nats import settings_for as notify_settings_for

pytestmark = pytest.mark.integration

MONDAY_7 = datetime(2026, 11, 30, 7, 0, tzinfo=UTC)
"""When the digest of week 49 of 2026 falls due (the default: Monday 07:00 UTC)."""
DEADLINE = 60.0
"""Seconds a condition may take on a loaded machine."""


class StandingClock:
    """The time the service reads: it stands still until the test moves it."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def settings_for(nats_url: str, database_url: str, tmp_path: Path, sink: MailSink) -> NotifySettings:
    """The notify of the other tests over NATS, with its digest on (off in tests unless asked for) and looked for
    every 0.2 s."""
    settings = notify_settings_for(nats_url, database_url, tmp_path, sink)
    digesting: NotifySettings = settings.model_copy(update={"digest_enabled": True, "digest_tick_seconds": 0.2})
    return digesting


async def publish(js: JetStreamContext, contract: Any, data: Any) -> int:
    """Publish an event; its sequence in the stream."""
    event = make_event(type_=contract.type, source="/test", data=data)
    ack = await js.publish(contract.subject, event.model_dump_json().encode(), headers={"Nats-Msg-Id": event.id})
    return int(ack.seq)


async def settled(js: JetStreamContext, source: str, durable: str, up_to: int) -> None:
    """Wait until the durable consumer has handled and acknowledged everything up to stream sequence ``up_to``."""

    def done(info: ConsumerInfo) -> bool:
        floor = (info.ack_floor.stream_seq if info.ack_floor else 0) or 0
        return floor >= up_to and info.num_ack_pending == 0 and info.num_pending == 0

    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE
    while not done(info := await js.consumer_info(stream_name(source), durable)):
        if loop.time() > deadline:
            raise AssertionError(f"{durable} did not settle within {DEADLINE}s: {info}")
        await asyncio.sleep(0.05)


def registered(member_id: str, name: str, language: str) -> members.MemberRegisteredV1:
    return members.MemberRegisteredV1(
        member_id=member_id, name=name, email=f"{member_id}@example.org", company="", language=language, focus=[],
        registered_at=MONDAY_7 - timedelta(days=30),
    )  # fmt: skip


def requested(member_id: str, at: datetime) -> alliances.MembershipRequestedV1:
    return alliances.MembershipRequestedV1(
        alliance_id="hamburg", member_id=member_id, message="", requested_at=at, moderator_ids=["ada", "grace"],
        alignment=alliances.Alignment(score=None, alliance_overlap=0, members_overlap=0, matching=[], missing=[]),
    )  # fmt: skip


def course_check(**changes: Any) -> dict[str, Any]:
    """Hamburg's course check every Tuesday and Thursday at 18:00 in Berlin, since 24 November 2026."""
    fields: dict[str, Any] = {
        "meeting_id": "m-7", "uid": "m-7@kehrwasser", "sequence": 1, "alliance_id": "hamburg",
        "alliance_name": "Hamburg Founders", "title": "Course check <&>", "agenda": "",
        "starts_at": datetime(2026, 11, 24, 17, 0, tzinfo=UTC), "timezone": "Europe/Berlin", "duration_minutes": 90,
        "location": "Hafen 1", "rrule": "FREQ=WEEKLY;BYDAY=TU,TH", "organizer_id": "ada",
        "attendee_ids": ["ada", "grace"],
    }  # fmt: skip
    return {**fields, **changes}


THURSDAY_CANCELLED = alliances.OccurrenceException(
    recurrence_id=datetime(2026, 12, 3, 17, 0, tzinfo=UTC), cancelled=True
)
TUESDAY_MOVED = alliances.OccurrenceException(
    recurrence_id=datetime(2026, 12, 1, 17, 0, tzinfo=UTC),
    cancelled=False,
    starts_at=datetime(2026, 12, 2, 16, 30, tzinfo=UTC),
    duration_minutes=60,
    location="Café am Hafen",
)


async def publish_the_week(js: JetStreamContext) -> None:
    """What happened in Hamburg before week 49: who is who, Linus's red light, the health figure, Eve's request,
    the course check with Thursday cancelled and Tuesday moved to Wednesday."""
    founded = examples.alliance_created(at=MONDAY_7 - timedelta(days=30)).model_copy(
        update={"moderator_ids": ["ada", "grace"]}
    )
    await publish(js, alliances.ALLIANCE_CREATED, founded)
    for member_id, name, language in [("ada", "Ada Lovelace", "de"), ("grace", "Grace Hopper", "en"),
                                      ("linus", "Linus Torvalds", "en"), ("eve", "Eve Example", "en"),
                                      ("kim", "Kim Jansen", "en")]:  # fmt: skip
        members_seq = await publish(js, members.MEMBER_REGISTERED, registered(member_id, name, language))
    preferences = members.MemberPreferencesChangedV1(
        member_id="grace", preferences=members.Preferences(), unsubscribe_token="grace-token-0123456789abcdef",
        changed_at=MONDAY_7 - timedelta(days=30),
    )  # fmt: skip
    members_seq = await publish(js, members.MEMBER_PREFERENCES_CHANGED, preferences)
    await settled(js, "members", handlers.MEMBERS_CONSUMER, members_seq)
    day = MONDAY_7 - timedelta(days=2)
    red = ledger.BalanceWarningV2(
        alliance_id="hamburg", member_id="linus", light=ledger.TrafficLight.RED,
        previous_light=ledger.TrafficLight.YELLOW, reason=ledger.LightReason.BALANCE, balance=Decimal("-7"),
        threshold=Decimal("-5"), occurred_at=day,
    )  # fmt: skip
    await publish(js, ledger.BALANCE_WARNING, red)
    health = ledger.AllianceHealthV1(
        alliance_id="hamburg", period_start=day, period_seconds=3600, members=5, active_givers=2,
        total_given=Decimal("1234.5"), gini=Decimal("0.4231"), one_way_count=1, one_way_members=["linus"],
        one_way_floor=Decimal("1"), computed_at=day + timedelta(minutes=7),
    )  # fmt: skip
    ledger_seq = await publish(js, ledger.ALLIANCE_HEALTH_PUBLISHED, health)
    await publish(js, alliances.MEMBERSHIP_REQUESTED, requested("eve", day))
    await publish(js, alliances.MEETING_SCHEDULED, alliances.MeetingScheduledV1(**course_check()))
    cancelled = alliances.OccurrenceCancelledV1(
        **course_check(sequence=2), exceptions=[THURSDAY_CANCELLED], recurrence_id=THURSDAY_CANCELLED.recurrence_id,
        cancelled_by="ada", reason="Holiday", cancelled_at=day,
    )  # fmt: skip
    await publish(js, alliances.OCCURRENCE_CANCELLED, cancelled)
    moved = alliances.OccurrenceRescheduledV1(
        **course_check(sequence=3), exceptions=[THURSDAY_CANCELLED, TUESDAY_MOVED],
        recurrence_id=TUESDAY_MOVED.recurrence_id, occurrence_starts_at=datetime(2026, 12, 2, 16, 30, tzinfo=UTC),
        occurrence_duration_minutes=60, occurrence_location="Café am Hafen", decided_by="ada", decided_at=day,
    )  # fmt: skip
    alliances_seq = await publish(js, alliances.OCCURRENCE_RESCHEDULED, moved)
    await settled(js, "ledger", handlers.LEDGER_CONSUMER, ledger_seq)
    await settled(js, "alliances", handlers.ALLIANCES_CONSUMER, alliances_seq)


def digest_of(week: str, address: str | None = None) -> Callable[[EmailMessage], bool]:
    def matches(message: EmailMessage) -> bool:
        subject = str(message["Subject"])
        to = message["To"].addresses[0].addr_spec
        return (
            subject.endswith(f" {week}")
            and ("digest" in subject or "Wochenübersicht" in subject)
            and (address is None or to == address)
        )

    return matches


def texts(message: EmailMessage) -> tuple[str, str]:
    plain, html = message.get_body(("plain",)), message.get_body(("html",))
    assert plain is not None
    assert html is not None
    plain_text, html_text = plain.get_content(), html.get_content()
    assert isinstance(plain_text, str)
    assert isinstance(html_text, str)
    return plain_text.replace("\r\n", "\n"), html_text


def by_recipient(messages: list[EmailMessage]) -> dict[str, EmailMessage]:
    return {m["To"].addresses[0].addr_spec: m for m in messages}


async def wait_for(sink: MailSink, matches: Callable[[EmailMessage], bool], count: int) -> list[EmailMessage]:
    found = await asyncio.to_thread(sink.wait_for_matching, matches, count, DEADLINE)
    assert len(found) >= count, f"{len(found)} of {count} mails arrived"
    return found


async def test_moderators_get_the_weekly_digest_in_their_language_once_a_week_across_a_restart(
    nats_url: str, database_url: str, tmp_path: Path, mail_sink: MailSink
) -> None:
    clock = StandingClock(MONDAY_7 - timedelta(hours=1))  # Monday 06:00: week 49's digest is not due yet
    settings = settings_for(nats_url, database_url, tmp_path, mail_sink)
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        async with running(bootstrap(settings, clock=clock)):
            await publish_the_week(js)
            clock.now = MONDAY_7
            week_49 = by_recipient(await wait_for(mail_sink, digest_of("2026-W49"), 2))
        # A restarted notify in the same week (its loop looks at once, then every 0.2 s) queues nothing again.
        clock.now = MONDAY_7 + timedelta(days=1, hours=3)
        async with running(bootstrap(settings, clock=clock)):
            await publish(js, alliances.MEMBERSHIP_REQUESTED, requested("kim", clock.now))
            await wait_for(mail_sink, lambda m: "Kim Jansen" in str(m["Subject"]), 2)  # asked of both moderators
            # The marker: next week's digests, which any second digest of week 49 (queued earlier) would precede.
            clock.now = MONDAY_7 + timedelta(days=7)
            week_50 = by_recipient(await wait_for(mail_sink, digest_of("2026-W50"), 2))
    finally:
        await nc.close()

    assert len([m for m in mail_sink.messages if digest_of("2026-W49")(m)]) == 2
    assert len([m for m in mail_sink.messages if digest_of("2026-W50")(m)]) == 2
    assert sorted(week_49) == ["ada@example.org", "grace@example.org"]

    grace = week_49["grace@example.org"]
    assert grace["Subject"] == "Hamburg Founders: your weekly digest for week 2026-W49"
    assert grace["Content-Language"] == "en"
    assert "token=grace-token-0123456789abcdef&category=digest" in grace["List-Unsubscribe"]
    plain, html = texts(grace)
    assert "TRAFFIC LIGHTS\n- Linus Torvalds: RED\n" in plain
    assert "Gini coefficient of giving: 0.4231" in plain
    assert "Active givers: 2 of 5 members; 1,234.50 points given in all" in plain
    assert "One-way flows: 1 – Linus Torvalds" in plain
    assert "OPEN REQUESTS TO JOIN\n- Eve Example, waiting since Saturday, 28 November 2026\n" in plain
    meetings = plain.split("MEETINGS IN THE NEXT SEVEN DAYS\n")[1].split("\n\nBest regards")[0]
    assert meetings.strip().splitlines() == [
        "- Wednesday, 2 December 2026, 17:30 (Europe/Berlin): Course check <&>, Café am Hafen "
        "(moved from Tuesday, 1 December 2026, 18:00 (Europe/Berlin))",
    ]  # Thursday's is cancelled; next Tuesday is after the seven days
    assert "Course check &lt;&amp;&gt;" in html
    assert "<script" not in html

    ada = week_49["ada@example.org"]
    assert ada["Subject"] == "Hamburg Founders: deine Wochenübersicht für die Woche 2026-W49"
    assert ada["Content-Language"] == "de"
    plain, _ = texts(ada)
    assert "AMPELN\n- Linus Torvalds: ROT\n" in plain
    assert "Gini-Koeffizient des Gebens: 0,4231" in plain
    assert "insgesamt 1.234,50 Punkte gegeben" in plain
    assert "Einbahnstraßen: 1 – Linus Torvalds" in plain
    assert "- Eve Example, wartet seit Samstag, 28. November 2026" in plain
    assert "Mittwoch, 2. Dezember 2026, 17:30 Uhr (Europe/Berlin): Course check <&>, Café am Hafen" in plain

    # Next week: Kim's request (made after the restart) is open too; the course check on 8 and 10 December.
    plain, _ = texts(week_50["grace@example.org"])
    assert "- Eve Example, waiting since Saturday, 28 November 2026\n- Kim Jansen, waiting since" in plain
    assert "Tuesday, 8 December 2026, 18:00 (Europe/Berlin): Course check <&>, Hafen 1" in plain
    assert "Thursday, 10 December 2026, 18:00 (Europe/Berlin)" in plain
