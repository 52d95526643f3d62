"""The core flow through all four services, each a separate OS process, over one real nats-server and SMTP.

Members register, a moderator founds an alliance, members join, contributions push one member below the
threshold (one warning email in that member's language, not one per contribution, and on red one to the
moderator), and a meeting is scheduled (an invitation with a calendar invite for every member).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import icalendar
import nats
import pytest
from nats.js.client import JetStreamContext
from sqlalchemy import text

from kehrwasser_shared.contracts import alliances, ledger, members
from kehrwasser_shared.contracts.subjects import stream_name
from kehrwasser_shared.embedded.mail_sink import MailSink
from kehrwasser_shared.messaging.client import CommandClient
from kehrwasser_shared.persistence.database import create_engine
from kehrwasser_shared.testing import fetch_exactly
from kehrwasser_shared.testing.databases import fresh_postgres_database, postgres_url_from_environment
from kehrwasser_shared.testing.processes import ServiceProcess

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

SERVICES = ("members", "alliances", "ledger", "notify")

MAILS = 7
"""Two welcomes (Grace and Linus join), Linus's warning and its escalation to Ada, three meeting invitations."""


def backends() -> list[str]:
    return ["sqlite", "postgresql"] if postgres_url_from_environment() else ["sqlite"]


@pytest.fixture(params=backends())
def database_urls(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    """Each service its own database: SQLite files by default, or four fresh PostgreSQL databases."""
    if request.param == "sqlite":
        yield {}
        return
    with contextlib.ExitStack() as stack:
        admin_url = postgres_url_from_environment() or ""
        yield {
            f"KEHRWASSER_{service.upper()}_DATABASE_URL": stack.enter_context(fresh_postgres_database(admin_url))
            for service in SERVICES
        }


@pytest.fixture
def network(
    nats_url: str, mail_sink: MailSink, database_urls: dict[str, str], tmp_path: Path
) -> Iterator[list[ServiceProcess]]:
    env = {
        "KEHRWASSER_NATS_URL": nats_url,
        "KEHRWASSER_DATA_DIR": str(tmp_path / "data"),
        "KEHRWASSER_SMTP_HOST": mail_sink.host,
        "KEHRWASSER_SMTP_PORT": str(mail_sink.port),
        "KEHRWASSER_OUTBOX_POLL_SECONDS": "0.2",
        **database_urls,
    }
    processes = [ServiceProcess(service, env, tmp_path / "logs").start() for service in SERVICES]
    try:
        for process in processes:
            process.wait_ready()
        yield processes
    finally:
        for process in processes:
            process.stop()


def database_of(service: str, database_urls: dict[str, str], tmp_path: Path) -> str:
    """The service's database: the fresh PostgreSQL one, or its default SQLite file in the data directory."""
    default = f"sqlite+aiosqlite:///{tmp_path / 'data' / f'{service}.db'}"
    return database_urls.get(f"KEHRWASSER_{service.upper()}_DATABASE_URL", default)


async def count(database_url: str, query: str) -> int:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            return int((await connection.execute(text(query))).scalar_one())
    finally:
        await engine.dispose()


async def until_zero(database_url: str, query: str, timeout: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while left := await count(database_url, query):
        assert loop.time() < deadline, f"{query}: {left} after {timeout}s"
        await asyncio.sleep(0.1)


async def until_consumers_settled(js: JetStreamContext, service: str, timeout: float = 30.0) -> None:
    """Wait until every durable consumer of a service's stream has been given and has acknowledged all it
    matches (the services' consumers are durable; a test's own readers are not)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        busy = [
            (info.name, info.num_pending, info.num_ack_pending)
            for info in await js.consumers_info(stream_name(service))
            if info.config.durable_name and (info.num_pending or info.num_ack_pending)
        ]
        if not busy:
            return
        assert loop.time() < deadline, f"consumers of {service}'s events still busy after {timeout}s: {busy}"
        await asyncio.sleep(0.1)


async def published(js: JetStreamContext, subject: str, service: str) -> list[dict[str, Any]]:
    """Every event stored on ``subject`` (read by an ephemeral consumer)."""
    subscription = await js.pull_subscribe(subject, stream=stream_name(service), durable=None)
    try:
        stored = (await subscription.consumer_info()).num_pending or 0
        return [json.loads(m.data) for m in await fetch_exactly(subscription, stored)]
    finally:
        await subscription.unsubscribe()


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def calendar_of(message: EmailMessage) -> icalendar.Calendar:
    parts = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
    assert len(parts) == 1, [p.get_content_type() for p in message.walk()]
    assert parts[0].get_param("method") == "REQUEST"
    payload = parts[0].get_payload(decode=True)
    assert isinstance(payload, bytes)
    return icalendar.Calendar.from_ical(payload)


async def test_core_flow_sends_one_balance_warning_and_an_invitation_to_every_member(
    network: list[ServiceProcess], nats_url: str, mail_sink: MailSink, database_urls: dict[str, str], tmp_path: Path
) -> None:
    run = uuid.uuid4().hex[:6]
    nc = await nats.connect(nats_url)
    try:
        client = CommandClient(nc)
        ada = await client.send(
            members.REGISTER,
            members.RegisterMember(
                name="Ada Lovelace",
                email=f"ada-{run}@example.org",
                company="Analytical Engines",
                language="de",
                focus=["compute"],
            ),
        )
        grace = await client.send(
            members.REGISTER,
            members.RegisterMember(name="Grace Hopper", email=f"grace-{run}@example.org", language="en"),
        )
        linus = await client.send(
            members.REGISTER,
            members.RegisterMember(name="Linus Torvalds", email=f"linus-{run}@example.org", language="en"),
        )
        alliance = await client.send_when_known(
            alliances.CREATE,
            alliances.CreateAlliance(
                name="Hamburg Founders",
                purpose="Challenge each other's course",
                focus=["compute"],
                warning_threshold=Decimal("-5"),
                moderator_id=ada.member_id,
            ),
        )
        for newcomer in (grace, linus):
            await client.send_when_known(
                alliances.JOIN,
                alliances.JoinAlliance(alliance_id=alliance.alliance_id, member_id=newcomer.member_id),
            )

        async def contribute(giver: str, value: str, kind: ledger.ContributionKind) -> ledger.ContributionResult:
            return await client.send_when_known(
                ledger.RECORD_CONTRIBUTION,
                ledger.RecordContribution(
                    contribution_id=str(uuid.uuid4()),
                    alliance_id=alliance.alliance_id,
                    giver_id=giver,
                    receiver_id=linus.member_id,
                    kind=kind,
                    value=Decimal(value),
                    note="",
                ),
            )

        await contribute(ada.member_id, "3", ledger.ContributionKind.ADVICE)
        crossing = await contribute(grace.member_id, "4", ledger.ContributionKind.INTRODUCTION)
        assert crossing.receiver_balance == Decimal("-7")
        further = await contribute(ada.member_id, "1", ledger.ContributionKind.KNOWLEDGE)
        assert further.receiver_balance == Decimal("-8")
        balance = await client.send(
            ledger.BALANCE, ledger.QueryBalance(alliance_id=alliance.alliance_id, member_id=linus.member_id)
        )
        assert balance.balance == Decimal("-8")
        assert balance.below_threshold

        tomorrow = (datetime.now() + timedelta(days=1)).replace(hour=18, minute=0, second=0, microsecond=0)
        meeting = await client.send(
            alliances.SCHEDULE_MEETING,
            alliances.ScheduleMeeting(
                alliance_id=alliance.alliance_id,
                requested_by=ada.member_id,
                title="Monthly course check",
                starts_at=tomorrow,
                timezone="Europe/Berlin",
                duration_minutes=90,
                location="https://meet.example.org/hamburg",
            ),
        )
        await asyncio.to_thread(mail_sink.wait_for, MAILS, 60.0)
        # Quiet, not just a while later: every event the ledger committed is in its stream, notify has handled
        # all of them, and no mail waits to be sent. Only then is what arrived all that will.
        js = nc.jetstream()
        await until_zero(database_of("ledger", database_urls, tmp_path), "SELECT count(*) FROM outbox")
        warned = await published(js, ledger.BALANCE_WARNING.subject, "ledger")
        await until_consumers_settled(js, "ledger")
        await until_consumers_settled(js, "alliances")
        notify_database = database_of("notify", database_urls, tmp_path)
        await until_zero(notify_database, "SELECT count(*) FROM deliveries WHERE status = 'pending'")
        assert await count(notify_database, "SELECT count(*) FROM deliveries WHERE status = 'sent'") == MAILS
    finally:
        await nc.close()

    # One warning: the contribution that took Linus from -3 to -7 turned his light red; the next one (-8)
    # leaves it red, and a light warns once per crossing.
    assert [(w["data"]["member_id"], w["data"]["contribution_id"], Decimal(w["data"]["balance"])) for w in warned] == [
        (linus.member_id, crossing.contribution_id, Decimal("-7"))
    ]
    messages = mail_sink.messages
    assert len(messages) == MAILS, [m["Subject"] for m in messages]
    # Grace and Linus, admitted after the founding, are welcomed; Ada founded it.
    welcomes = [m for m in messages if m["Subject"].startswith("Welcome to the alliance")]
    assert sorted(m["To"].addresses[0].addr_spec for m in welcomes) == sorted(str(m.email) for m in (grace, linus))
    messages = [m for m in messages if m not in welcomes]
    invitations = [m for m in messages if any(p.get_content_type() == "text/calendar" for p in m.walk())]
    escalations = [m for m in messages if m["To"].addresses[0].addr_spec == ada.email and m not in invitations]
    warnings = [m for m in messages if m not in invitations and m not in escalations]

    # Linus went red: he is warned, and Ada, the alliance's moderator, hears of it in German.
    assert len(warnings) == 1, [m["Subject"] for m in messages]
    [escalation] = escalations
    assert escalation["Content-Language"] == "de"
    assert "Linus Torvalds" in escalation["Subject"]
    [warning] = warnings
    assert warning["To"].addresses[0].addr_spec == linus.email
    assert warning["Content-Language"] == "en"
    assert "Hamburg Founders" in text_of(warning)
    # The warning tells the balance that crossed the threshold, not the balance by the time it is read.
    assert "your balance of contribution is now -7.00 points, below the threshold of -5.00." in text_of(warning)
    assert "steht bei -7,00 Punkten" in text_of(escalation)
    assert warning.get_body(preferencelist=("html",)) is not None

    assert sorted(m["To"].addresses[0].addr_spec for m in invitations) == sorted(
        str(m.email) for m in (ada, grace, linus)
    )
    uids = set()
    for invitation in invitations:
        recipient = invitation["To"].addresses[0].addr_spec
        calendar = calendar_of(invitation)
        assert str(calendar["METHOD"]) == "REQUEST"
        [event] = calendar.walk("VEVENT")
        uids.add(str(event["UID"]))
        attendees = event.get("ATTENDEE")
        attendees = attendees if isinstance(attendees, list) else [attendees]
        assert [str(a).lower() for a in attendees] == [f"mailto:{recipient}"]
        assert event["DTSTART"].params["TZID"] == "Europe/Berlin"
        start = event.decoded("DTSTART")
        assert isinstance(start, datetime)
        assert start.replace(tzinfo=None) == meeting.starts_at.replace(tzinfo=None)
        assert [str(tz["TZID"]) for tz in calendar.walk("VTIMEZONE")] == ["Europe/Berlin"]
        assert str(event["SUMMARY"]) == "Monthly course check"
        expected_language = "de" if recipient == ada.email else "en"
        assert invitation["Content-Language"] == expected_language
    assert uids == {f"{meeting.meeting_id}@kehrwasser"}
