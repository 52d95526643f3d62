"""Notify against a real nats-server, a real SMTP server (aiosmtpd) and every reachable database."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import icalendar
import nats
import pytest

from kehrwasser_notify.bootstrap import bootstrap
from kehrwasser_notify.config import NotifySettings
from kehrwasser_shared.contracts import alliances, ledger, make_event, members
from kehrwasser_shared.embedded.mail_sink import MailSink
from kehrwasser_shared.testing import running

pytestmark = pytest.mark.integration
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def settings_for(nats_url: str, database_url: str, tmp_path: Path, sink: MailSink) -> NotifySettings:
    return NotifySettings(
        nats_url=nats_url,
        data_dir=tmp_path,
        database_url=database_url,
        smtp_host=sink.host,
        smtp_port=sink.port,
        consumer_backoff_seconds=[0.2],
        mail_poll_seconds=0.2,
    )


async def publish(js: Any, contract: Any, data: Any, msg_id: str | None = None) -> str:
    event = make_event(type_=contract.type, source="/test", data=data)
    await js.publish(contract.subject, event.model_dump_json().encode(), headers={"Nats-Msg-Id": msg_id or event.id})
    return event.model_dump_json()


def registered(member_id: str, name: str, language: str) -> members.MemberRegisteredV1:
    return members.MemberRegisteredV1(
        member_id=member_id,
        name=name,
        email=f"{member_id}@example.org",
        company="",
        language=language,  # type: ignore[arg-type]
        focus=[],
        registered_at=NOW,
    )


def warning_for(member_id: str, escalate_to: list[str] | None = None) -> ledger.BalanceWarningV2:
    return ledger.BalanceWarningV2(
        alliance_id="hamburg",
        member_id=member_id,
        light=ledger.TrafficLight.RED,
        previous_light=ledger.TrafficLight.GREEN,
        reason=ledger.LightReason.BALANCE,
        balance=Decimal("-7"),
        threshold=Decimal("-5"),
        escalate_to=escalate_to or [],
        contribution_id="c2",
        occurred_at=NOW,
    )


async def test_a_warning_before_the_contact_is_known_is_retried_and_sent_once(
    nats_url: str, database_url: str, tmp_path: Path, mail_sink: MailSink
) -> None:
    async with running(bootstrap(settings_for(nats_url, database_url, tmp_path, mail_sink))):
        nc = await nats.connect(nats_url)
        try:
            js = nc.jetstream()
            await publish(
                js,
                alliances.ALLIANCE_CREATED,
                alliances.AllianceCreatedV1(
                    alliance_id="hamburg",
                    name="Hamburg Founders",
                    purpose="",
                    focus=[],
                    warning_threshold=Decimal("-5"),
                    moderator_id="ada",
                    created_at=NOW,
                ),
            )
            payload = await publish(js, ledger.BALANCE_WARNING, warning_for("linus"))
            await asyncio.sleep(0.5)  # the warning fails while Linus is unknown
            await publish(js, members.MEMBER_REGISTERED, registered("linus", "Linus Torvalds", "en"))
            [message] = await asyncio.to_thread(mail_sink.wait_for, 1, 20.0)
            # The same event again (a producer's retry past the duplicate window): no second mail.
            await js.publish(ledger.BALANCE_WARNING.subject, payload.encode(), headers={"Nats-Msg-Id": "again"})
            await asyncio.sleep(1.5)
        finally:
            await nc.close()
    assert len(mail_sink.messages) == 1
    assert message["To"].addresses[0].addr_spec == "linus@example.org"
    assert "Hamburg Founders" in message["Subject"]
    assert message["Content-Language"] == "en"


async def test_every_attendee_gets_an_invitation_with_the_same_uid(
    nats_url: str, database_url: str, tmp_path: Path, mail_sink: MailSink
) -> None:
    async with running(bootstrap(settings_for(nats_url, database_url, tmp_path, mail_sink))):
        nc = await nats.connect(nats_url)
        try:
            js = nc.jetstream()
            await publish(js, members.MEMBER_REGISTERED, registered("ada", "Ada Lovelace", "de"))
            await publish(js, members.MEMBER_REGISTERED, registered("grace", "Grace Hopper", "en"))
            await publish(
                js,
                alliances.MEETING_SCHEDULED,
                alliances.MeetingScheduledV1(
                    meeting_id="m-1",
                    alliance_id="hamburg",
                    alliance_name="Hamburg Founders",
                    title="Course check",
                    starts_at=datetime(2026, 12, 1, 18, 0),
                    timezone="Europe/Berlin",
                    duration_minutes=90,
                    location="https://meet.example.org/hamburg",
                    organizer_id="ada",
                    attendee_ids=["ada", "grace"],
                ),
            )
            messages = await asyncio.to_thread(mail_sink.wait_for, 2, 20.0)
        finally:
            await nc.close()
    assert sorted(m["To"].addresses[0].addr_spec for m in messages) == ["ada@example.org", "grace@example.org"]
    for message in messages:
        [part] = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
        [event] = icalendar.Calendar.from_ical(part.get_payload(decode=True)).walk("VEVENT")
        assert str(event["UID"]) == "m-1@kehrwasser"
        assert str(event["ATTENDEE"]) == f"mailto:{message['To'].addresses[0].addr_spec}"
        assert str(event["ORGANIZER"]) == "mailto:ada@example.org"


async def test_a_red_light_reaches_the_member_and_is_escalated_to_the_moderators(
    nats_url: str, database_url: str, tmp_path: Path, mail_sink: MailSink
) -> None:
    async with running(bootstrap(settings_for(nats_url, database_url, tmp_path, mail_sink))):
        nc = await nats.connect(nats_url)
        try:
            js = nc.jetstream()
            await publish(js, members.MEMBER_REGISTERED, registered("ada", "Ada Lovelace", "de"))
            await publish(js, members.MEMBER_REGISTERED, registered("linus", "Linus Torvalds", "en"))
            await publish(js, ledger.BALANCE_WARNING, warning_for("linus", escalate_to=["ada"]))
            messages = await asyncio.to_thread(mail_sink.wait_for, 2, 20.0)
        finally:
            await nc.close()
    by_recipient = {m["To"].addresses[0].addr_spec: m for m in messages}
    assert set(by_recipient) == {"ada@example.org", "linus@example.org"}
    assert by_recipient["linus@example.org"]["Subject"] == "Your balance of contribution in hamburg is red"
    assert by_recipient["ada@example.org"]["Subject"] == "Linus Torvalds steht in hamburg auf Rot"
