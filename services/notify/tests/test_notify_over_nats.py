"""Notify against a real nats-server, a real SMTP server (aiosmtpd) and every reachable database."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import icalendar
import nats
import pytest
from aiosmtpd.controller import Controller
from nats.js.api import ConsumerInfo
from nats.js.client import JetStreamContext
from notify_examples import NOW, calendar_event, red_warning, start_of
from sqlalchemy import select

from kehrwasser_notify.adapters.tables import deliveries, messaging
from kehrwasser_notify.adapters.unit_of_work import SqlNotifyUnitOfWork
from kehrwasser_notify.bootstrap import bootstrap
from kehrwasser_notify.config import NotifySettings
from kehrwasser_notify.domain.model import Contact
from kehrwasser_notify.service_layer import handlers
from kehrwasser_shared.contracts import alliances, ledger, make_event, members, notify
from kehrwasser_shared.contracts.subjects import stream_name
from kehrwasser_shared.embedded.mail_sink import MailSink
from kehrwasser_shared.embedded.nats_server import free_port
from kehrwasser_shared.persistence.database import create_engine
from kehrwasser_shared.testing import examples, running

pytestmark = pytest.mark.integration


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


async def consumer_reaches(
    js: JetStreamContext, source: str, durable: str, condition: Callable[[ConsumerInfo], bool], timeout: float = 20.0
) -> ConsumerInfo:
    """Wait until a durable consumer's state meets ``condition`` (read from the server every 50 ms)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        info: ConsumerInfo = await js.consumer_info(stream_name(source), durable)
        if condition(info):
            return info
        if loop.time() > deadline:
            raise AssertionError(f"{durable} did not get there within {timeout}s: {info}")
        await asyncio.sleep(0.05)


def failed_once(info: ConsumerInfo) -> bool:
    """The consumer's only message was delivered again: its first handling failed."""
    return info.delivered is not None and (info.delivered.consumer_seq or 0) >= 2 and info.num_ack_pending == 1


def settled(up_to_stream_seq: int) -> Callable[[ConsumerInfo], bool]:
    def condition(info: ConsumerInfo) -> bool:
        floor = info.ack_floor.stream_seq if info.ack_floor else 0
        return (floor or 0) >= up_to_stream_seq and info.num_ack_pending == 0 and info.num_pending == 0

    return condition


async def recorded_deliveries(database_url: str) -> dict[str, tuple[str, str | None]]:
    """Status and last error of every delivery, by member."""
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(
                select(deliveries.c.member_id, deliveries.c.status, deliveries.c.last_error)
            )
            return {row.member_id: (row.status, row.last_error) for row in rows}
    finally:
        await engine.dispose()


def hamburg_founded() -> alliances.AllianceCreatedV1:
    return examples.alliance_created(at=NOW)


def course_check(attendee_ids: list[str]) -> alliances.MeetingScheduledV1:
    return alliances.MeetingScheduledV1(
        meeting_id="m-1",
        alliance_id="hamburg",
        alliance_name="Hamburg Founders",
        title="Course check",
        starts_at=datetime(2026, 12, 1, 17, 0, tzinfo=UTC),  # 18:00 in Berlin
        timezone="Europe/Berlin",
        duration_minutes=90,
        location="https://meet.example.org/hamburg",
        organizer_id="ada",
        attendee_ids=attendee_ids,
    )


def registered(member_id: str, name: str, language: str) -> members.MemberRegisteredV1:
    return members.MemberRegisteredV1(
        member_id=member_id,
        name=name,
        email=f"{member_id}@example.org",
        company="",
        language=language,
        focus=[],
        registered_at=NOW,
    )


async def test_a_warning_before_the_contact_is_known_is_retried_and_sent_once(
    nats_url: str, database_url: str, tmp_path: Path, mail_sink: MailSink
) -> None:
    async with running(bootstrap(settings_for(nats_url, database_url, tmp_path, mail_sink))):
        nc = await nats.connect(nats_url)
        try:
            js = nc.jetstream()
            await publish(js, alliances.ALLIANCE_CREATED, hamburg_founded())
            await consumer_reaches(js, "alliances", handlers.ALLIANCES_CONSUMER, settled(1))
            payload = await publish(js, ledger.BALANCE_WARNING, red_warning("linus", contribution_id="c2"))
            await consumer_reaches(js, "ledger", handlers.LEDGER_CONSUMER, failed_once)  # Linus is unknown
            await publish(js, members.MEMBER_REGISTERED, registered("linus", "Linus Torvalds", "en"))
            [message] = await asyncio.to_thread(mail_sink.wait_for, 1, 20.0)
            # The same event again (a producer's retry past the duplicate window): no second mail.
            again = await js.publish(ledger.BALANCE_WARNING.subject, payload.encode(), headers={"Nats-Msg-Id": "again"})
            await consumer_reaches(js, "ledger", handlers.LEDGER_CONSUMER, settled(again.seq))
        finally:
            await nc.close()
    assert len(mail_sink.messages) == 1
    assert list(await recorded_deliveries(database_url)) == ["linus"]
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
            await publish(js, alliances.MEETING_SCHEDULED, course_check(["ada", "grace"]))
            messages = await asyncio.to_thread(mail_sink.wait_for, 2, 20.0)
        finally:
            await nc.close()
    assert sorted(m["To"].addresses[0].addr_spec for m in messages) == ["ada@example.org", "grace@example.org"]
    for message in messages:
        event = calendar_event(message)
        assert str(event["UID"]) == "m-1@kehrwasser"
        assert str(event["ATTENDEE"]) == f"mailto:{message['To'].addresses[0].addr_spec}"
        assert str(event["ORGANIZER"]) == "mailto:ada@example.org"
        assert event["DTSTART"].params["TZID"] == "Europe/Berlin"
        assert start_of(event).replace(tzinfo=None) == datetime(2026, 12, 1, 18, 0)


async def test_an_attendee_whose_data_cannot_go_into_a_mail_fails_alone_and_the_others_are_invited(
    nats_url: str, database_url: str, tmp_path: Path, mail_sink: MailSink
) -> None:
    parts = bootstrap(settings_for(nats_url, database_url, tmp_path, mail_sink))
    async with running(parts):
        # Eve's contact was stored before the contracts refused line breaks in names.
        async with SqlNotifyUnitOfWork(parts.engine, messaging, source="/test") as uow:
            await uow.contacts.save(Contact("eve", "Eve\r\nBcc: x@y.z", "eve@example.org", "en"))
            await uow.commit()
        nc = await nats.connect(nats_url)
        try:
            js = nc.jetstream()
            await publish(js, members.MEMBER_REGISTERED, registered("ada", "Ada Lovelace", "de"))
            await publish(js, members.MEMBER_REGISTERED, registered("grace", "Grace Hopper", "en"))
            await consumer_reaches(js, "members", handlers.MEMBERS_CONSUMER, settled(2))
            await publish(js, alliances.MEETING_SCHEDULED, course_check(["ada", "eve", "grace"]))
            messages = await asyncio.to_thread(mail_sink.wait_for, 2, 20.0)
            info = await consumer_reaches(js, "alliances", handlers.ALLIANCES_CONSUMER, settled(1))
        finally:
            await nc.close()
    assert info.delivered is not None
    assert info.delivered.consumer_seq == 1  # handled at the first delivery: never retried
    assert sorted(m["To"].addresses[0].addr_spec for m in messages) == ["ada@example.org", "grace@example.org"]
    for message in messages:
        assert message["Bcc"] is None
        assert str(calendar_event(message)["ATTENDEE"]) == f"mailto:{message['To'].addresses[0].addr_spec}"
    recorded = await recorded_deliveries(database_url)
    status, reason = recorded["eve"]
    assert status == "failed"
    assert reason is not None
    assert "the recipient's name holds the control character U+000D" in reason
    assert set(recorded) == {"ada", "eve", "grace"}


async def test_a_warning_that_overtakes_its_alliance_is_retried_and_names_the_alliance(
    nats_url: str, database_url: str, tmp_path: Path, mail_sink: MailSink
) -> None:
    async with running(bootstrap(settings_for(nats_url, database_url, tmp_path, mail_sink))):
        nc = await nats.connect(nats_url)
        try:
            js = nc.jetstream()
            await publish(js, members.MEMBER_REGISTERED, registered("linus", "Linus Torvalds", "en"))
            await consumer_reaches(js, "members", handlers.MEMBERS_CONSUMER, settled(1))
            await publish(js, ledger.BALANCE_WARNING, red_warning("linus", contribution_id="c2"))
            await consumer_reaches(js, "ledger", handlers.LEDGER_CONSUMER, failed_once)  # Hamburg is unknown
            await publish(js, alliances.ALLIANCE_CREATED, hamburg_founded())
            [message] = await asyncio.to_thread(mail_sink.wait_for, 1, 20.0)
        finally:
            await nc.close()
    assert message["Subject"] == "Your balance of contribution in Hamburg Founders is red"
    assert "in the alliance Hamburg Founders is RED" in message.get_body(("plain",)).get_content()  # type: ignore[union-attr]


async def test_a_red_light_reaches_the_member_and_is_escalated_to_the_moderators(
    nats_url: str, database_url: str, tmp_path: Path, mail_sink: MailSink
) -> None:
    async with running(bootstrap(settings_for(nats_url, database_url, tmp_path, mail_sink))):
        nc = await nats.connect(nats_url)
        try:
            js = nc.jetstream()
            await publish(js, members.MEMBER_REGISTERED, registered("ada", "Ada Lovelace", "de"))
            await publish(js, members.MEMBER_REGISTERED, registered("linus", "Linus Torvalds", "en"))
            await publish(js, alliances.ALLIANCE_CREATED, hamburg_founded())
            await publish(js, ledger.BALANCE_WARNING, red_warning("linus", escalate_to=["ada"], contribution_id="c2"))
            messages = await asyncio.to_thread(mail_sink.wait_for, 2, 20.0)
        finally:
            await nc.close()
    by_recipient = {m["To"].addresses[0].addr_spec: m for m in messages}
    assert set(by_recipient) == {"ada@example.org", "linus@example.org"}
    assert by_recipient["linus@example.org"]["Subject"] == "Your balance of contribution in Hamburg Founders is red"
    assert by_recipient["ada@example.org"]["Subject"] == "Linus Torvalds steht in Hamburg Founders auf Rot"


class RefusesGrace:
    """An SMTP server's handler that refuses mail to Grace for good (550) and keeps every other message."""

    def __init__(self) -> None:
        self.accepted: list[str] = []
        self.refused = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if envelope.rcpt_tos == ["grace@example.org"]:
            self.refused += 1
            return "550 5.1.1 <grace@example.org>: no such user"
        self.accepted.extend(envelope.rcpt_tos)
        return "250 Message accepted for delivery"


async def test_a_refused_invitation_is_tried_once_announced_and_in_the_delivery_log(
    nats_url: str, database_url: str, tmp_path: Path, mail_sink: MailSink
) -> None:
    handler = RefusesGrace()
    smtp = Controller(handler, hostname="127.0.0.1", port=free_port())
    smtp.start()
    settings = settings_for(nats_url, database_url, tmp_path, mail_sink).model_copy(update={"smtp_port": smtp.port})
    try:
        async with running(bootstrap(settings)):
            nc = await nats.connect(nats_url)
            try:
                failures = await nc.subscribe(notify.NOTIFICATION_FAILED.subject)
                js = nc.jetstream()
                await publish(js, members.MEMBER_REGISTERED, registered("ada", "Ada Lovelace", "de"))
                await publish(js, members.MEMBER_REGISTERED, registered("grace", "Grace Hopper", "en"))
                await publish(js, alliances.MEETING_SCHEDULED, course_check(["ada", "grace"]))
                announced = json.loads((await failures.next_msg(timeout=20)).data)
                reply = await nc.request(notify.MAIL_LOG.subject, json.dumps({"status": "failed"}).encode(), timeout=10)
                log = json.loads(reply.data)
                everything = json.loads(
                    (await nc.request(notify.MAIL_LOG.subject, json.dumps({"limit": 1}).encode(), timeout=10)).data
                )
            finally:
                await nc.close()
    finally:
        smtp.stop()
    assert announced["type"] == notify.NOTIFICATION_FAILED.type
    failed = announced["data"]
    assert (failed["member_id"], failed["kind"], failed["permanent"], failed["attempts"]) == (
        "grace",
        "meeting-invitation",
        True,
        1,
    )
    assert "550" in failed["reason"]
    assert handler.refused == 1
    assert handler.accepted == ["ada@example.org"]
    assert log["ok"] is True
    [entry] = log["result"]["deliveries"]
    assert (entry["delivery_id"], entry["status"], entry["member_id"]) == (failed["delivery_id"], "failed", "grace")
    assert len(everything["result"]["deliveries"]) == 1
    assert everything["result"]["next_cursor"] is not None


TOKEN_ADA = "ada-unsubscribe-token-0123456789"
TOKEN_LINUS = "linus-unsubscribe-token-0123456789"


def preferences(member_id: str, token: str, **turned: bool) -> members.MemberPreferencesChangedV1:
    return members.MemberPreferencesChangedV1(
        member_id=member_id, preferences=members.Preferences(**turned), unsubscribe_token=token, changed_at=NOW
    )


async def test_preferences_suppress_a_category_except_a_red_warning_and_mail_carries_one_click_unsubscribe(
    nats_url: str, database_url: str, tmp_path: Path, mail_sink: MailSink
) -> None:
    settings = settings_for(nats_url, database_url, tmp_path, mail_sink).model_copy(
        update={"mail_link_base_url": "https://app.example.org/mail"}
    )
    yellow = red_warning("linus", contribution_id="c1").model_copy(update={"light": ledger.TrafficLight.YELLOW})
    async with running(bootstrap(settings)):
        nc = await nats.connect(nats_url)
        try:
            js = nc.jetstream()
            await publish(js, alliances.ALLIANCE_CREATED, hamburg_founded())
            await publish(js, members.MEMBER_REGISTERED, registered("ada", "Ada Lovelace", "de"))
            await publish(js, members.MEMBER_REGISTERED, registered("linus", "Linus Torvalds", "en"))
            await publish(js, members.MEMBER_PREFERENCES_CHANGED, preferences("ada", TOKEN_ADA))
            await publish(js, members.MEMBER_PREFERENCES_CHANGED, preferences("linus", TOKEN_LINUS, balance=False))
            await consumer_reaches(js, "members", handlers.MEMBERS_CONSUMER, settled(4))
            await publish(js, ledger.BALANCE_WARNING, yellow)  # Linus turned balance mail off: suppressed
            await publish(js, ledger.BALANCE_WARNING, red_warning("linus", escalate_to=["ada"], contribution_id="c2"))
            await publish(js, alliances.MEETING_SCHEDULED, course_check(["ada"]))
            messages = await asyncio.to_thread(mail_sink.wait_for, 3, 20.0)
            await consumer_reaches(js, "ledger", handlers.LEDGER_CONSUMER, settled(2))
            suppressed = json.loads(
                (
                    await nc.request(notify.MAIL_LOG.subject, json.dumps({"status": "suppressed"}).encode(), timeout=10)
                ).data
            )
        finally:
            await nc.close()
    by_kind = {(m["To"].addresses[0].addr_spec, m["Subject"].split(" ")[0]): m for m in messages}
    assert len(messages) == 3
    red_to_linus = by_kind[("linus@example.org", "Your")]
    assert red_to_linus["Subject"] == "Your balance of contribution in Hamburg Founders is red"  # critical
    assert red_to_linus["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert red_to_linus["List-Unsubscribe"] == (
        f"<https://app.example.org/mail/unsubscribe?token={TOKEN_LINUS}&category=balance>, "
        f"<mailto:unsubscribe@kehrwasser.local?subject=unsubscribe%20balance%20{TOKEN_LINUS}>"
    )
    invitation = by_kind[("ada@example.org", "Einladung:")]
    assert f"token={TOKEN_ADA}&category=meetings" in invitation["List-Unsubscribe"]
    assert invitation["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "List-Unsubscribe" in by_kind[("ada@example.org", "Linus")]  # the escalation to the moderator
    [entry] = suppressed["result"]["deliveries"]
    assert (entry["member_id"], entry["kind"], entry["status"]) == ("linus", "balance-warning", "suppressed")
    assert entry["last_error"] == "suppressed: the member turned off balance mail"


async def test_an_address_change_mails_the_token_to_the_new_address_whatever_the_preferences(
    nats_url: str, database_url: str, tmp_path: Path, mail_sink: MailSink
) -> None:
    token = "confirm-token-abcdefghijklmnopqrstuvwxyz"
    async with running(bootstrap(settings_for(nats_url, database_url, tmp_path, mail_sink))):
        nc = await nats.connect(nats_url)
        try:
            js = nc.jetstream()
            await publish(js, members.MEMBER_REGISTERED, registered("ada", "Ada Lovelace", "de"))
            turned_off = {c: False for c in members.CATEGORIES}
            await publish(js, members.MEMBER_PREFERENCES_CHANGED, preferences("ada", TOKEN_ADA, **turned_off))
            requested = members.MemberEmailChangeRequestedV1(
                member_id="ada",
                name="Ada Lovelace",
                language="de",
                new_email="ada@new.example.org",
                token=token,
                expires_at=NOW + timedelta(hours=24),
                requested_at=NOW,
            )
            await publish(js, members.MEMBER_EMAIL_CHANGE_REQUESTED, requested)
            [message] = await asyncio.to_thread(mail_sink.wait_for, 1, 20.0)
        finally:
            await nc.close()
    assert message["To"].addresses[0].addr_spec == "ada@new.example.org"
    assert message["Subject"] == "Bitte bestätige deine neue E-Mail-Adresse"
    assert message["List-Unsubscribe"] is None  # transactional
    plain = message.get_body(("plain",))
    assert plain is not None
    assert f"https://kehrwasser.local/confirm-email?token={token}" in plain.get_content()
    assert "Mittwoch, 25. November 2026, 13:00 Uhr" in plain.get_content()


def body_of(message: Any) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    text: str = part.get_content()
    return text


async def test_membership_decisions_recovery_and_pending_contributions_reach_whom_they_concern(
    nats_url: str, database_url: str, tmp_path: Path, mail_sink: MailSink
) -> None:
    alignment = alliances.Alignment(
        score=42, alliance_overlap=50, members_overlap=30, matching=["saas"], missing=["fintech"]
    )
    async with running(bootstrap(settings_for(nats_url, database_url, tmp_path, mail_sink))):
        nc = await nats.connect(nats_url)
        try:
            js = nc.jetstream()
            for member_id, name, language in [
                ("ada", "Ada Lovelace", "de"),
                ("grace", "Grace Hopper", "en"),
                ("linus", "Linus Torvalds", "en"),
            ]:
                await publish(js, members.MEMBER_REGISTERED, registered(member_id, name, language))
            await publish(js, alliances.ALLIANCE_CREATED, hamburg_founded())  # Ada moderates
            await publish(
                js,
                alliances.MEMBERSHIP_REQUESTED,
                alliances.MembershipRequestedV1(
                    alliance_id="hamburg",
                    member_id="grace",
                    message="",
                    alignment=alignment,
                    requested_at=NOW,
                    moderator_ids=["ada"],  # Linus, a moderator later, is not asked even when a retry runs late
                ),
            )
            await publish(
                js,
                alliances.MEMBERSHIP_DECLINED,
                alliances.MembershipDeclinedV1(
                    alliance_id="hamburg", member_id="grace", decided_by="ada", reason="<b>Not now</b>",
                    declined_at=NOW,
                ),
            )  # fmt: skip
            await publish(
                js,
                alliances.MEMBER_INVITED,
                alliances.MemberInvitedV1(
                    alliance_id="hamburg", member_id="linus", invited_by="ada", message="Join us", invited_at=NOW
                ),
            )
            await publish(
                js,
                alliances.MEMBER_JOINED,
                alliances.MemberJoinedV1(
                    alliance_id="hamburg", member_id="linus", role="member", joined_at=NOW,
                    admitted_via="invitation", decided_by="linus",
                ),
            )  # fmt: skip
            await publish(
                js,
                alliances.ROLE_CHANGED,
                alliances.RoleChangedV1(
                    alliance_id="hamburg", member_id="linus", role="moderator", previous_role="member",
                    decided_by="ada", changed_at=NOW,
                ),
            )  # fmt: skip
            await publish(
                js,
                ledger.BALANCE_RECOVERED,
                ledger.BalanceRecoveredV2(
                    alliance_id="hamburg", member_id="linus", light=ledger.TrafficLight.GREEN,
                    previous_light=ledger.TrafficLight.RED, balance=Decimal("1.5"), occurred_at=NOW,
                ),
            )  # fmt: skip
            await publish(
                js,
                ledger.CONTRIBUTION_PENDING,
                ledger.ContributionPendingV1(
                    contribution_id="c-9", alliance_id="hamburg", giver_id="grace", receiver_id="linus",
                    kind=ledger.ContributionKind.ADVICE, value=Decimal("3"), note="pricing", recorded_by="grace",
                    submitted_at=NOW, expires_at=NOW + timedelta(days=14), status=ledger.PendingStatus.PENDING,
                ),
            )  # fmt: skip
            messages = await asyncio.to_thread(mail_sink.wait_for, 7, 20.0)
        finally:
            await nc.close()
    subjects = sorted((m["To"].addresses[0].addr_spec, m["Subject"]) for m in messages)
    assert subjects == [
        ("ada@example.org", "Grace Hopper möchte in Hamburg Founders aufgenommen werden"),
        ("grace@example.org", "Your request to join Hamburg Founders was declined"),
        ("linus@example.org", "Invitation to the alliance Hamburg Founders"),
        ("linus@example.org", "Please confirm: Grace Hopper gave you something in Hamburg Founders"),
        ("linus@example.org", "Welcome to the alliance Hamburg Founders"),
        ("linus@example.org", "You now moderate Hamburg Founders"),
        ("linus@example.org", "Your balance of contribution in Hamburg Founders has recovered"),
    ]
    by_subject = {m["Subject"]: m for m in messages}
    request = body_of(by_subject["Grace Hopper möchte in Hamburg Founders aufgenommen werden"])
    assert "Ausrichtung: 42 von 100; gemeinsam: saas; es fehlt: fintech." in request
    declined = by_subject["Your request to join Hamburg Founders was declined"]
    assert "Their reason: “<b>Not now</b>”" in body_of(declined)
    html = declined.get_body(("html",))
    assert html is not None
    assert "&lt;b&gt;Not now&lt;/b&gt;" in html.get_content()
    pending = body_of(by_subject["Please confirm: Grace Hopper gave you something in Hamburg Founders"])
    assert "advice, 3.00 points (“pricing”)" in pending
    assert "by Tuesday, 8 December 2026, 13:00 (Europe/Berlin)" in pending
    assert "is GREEN again" in body_of(by_subject["Your balance of contribution in Hamburg Founders has recovered"])


def weekly_series(**changes: Any) -> dict[str, Any]:
    """Hamburg's fortnightly course check from 1 December 2026, 18:00 in Berlin, as the meeting events carry it."""
    fields: dict[str, Any] = {
        "meeting_id": "m-7",
        "uid": "m-7@kehrwasser",
        "sequence": 1,
        "alliance_id": "hamburg",
        "alliance_name": "Hamburg Founders",
        "title": "Course check <&>",
        "agenda": "Pricing",
        "starts_at": datetime(2026, 12, 1, 17, 0, tzinfo=UTC),
        "timezone": "Europe/Berlin",
        "duration_minutes": 90,
        "location": "https://meet.example.org/hamburg",
        "rrule": "FREQ=WEEKLY;INTERVAL=2;BYDAY=TU",
        "organizer_id": "ada",
        "attendee_ids": ["ada", "grace"],
        "exceptions": [],
    }
    return {**fields, **changes}


def when_of(component: icalendar.Component, name: str) -> datetime:
    value = component.decoded(name)
    assert isinstance(value, datetime)
    return value


def int_of(component: icalendar.Component, name: str) -> int:
    return int(str(component[name]))


def calendar_of(message: Any) -> icalendar.Calendar:
    [part] = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
    payload = part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    calendar = icalendar.Calendar.from_ical(payload)
    assert str(calendar["METHOD"]) == part.get_param("method")  # METHOD matches the content type
    [attachment] = [p for p in message.iter_attachments()]
    assert attachment.get_payload(decode=True) == payload  # the same calendar as an .ics attachment
    return calendar


async def test_a_series_update_a_moved_and_a_cancelled_occurrence_and_the_cancellation_are_imip_messages(
    nats_url: str, database_url: str, tmp_path: Path, mail_sink: MailSink
) -> None:
    moved_from = datetime(2026, 12, 15, 17, 0, tzinfo=UTC)
    cancelled_on = datetime(2026, 12, 29, 17, 0, tzinfo=UTC)
    async with running(bootstrap(settings_for(nats_url, database_url, tmp_path, mail_sink))):
        nc = await nats.connect(nats_url)
        try:
            js = nc.jetstream()
            await publish(js, members.MEMBER_REGISTERED, registered("ada", "Ada Lovelace", "de"))
            await publish(js, members.MEMBER_REGISTERED, registered("grace", "Grace Hopper", "en"))
            await publish(
                js,
                alliances.MEETING_UPDATED,
                alliances.MeetingUpdatedV1(**weekly_series(), updated_by="ada", updated_at=NOW),
            )
            await asyncio.to_thread(mail_sink.wait_for, 2, 20.0)
            await publish(
                js,
                alliances.OCCURRENCE_RESCHEDULED,
                alliances.OccurrenceRescheduledV1(
                    **weekly_series(sequence=2),
                    recurrence_id=moved_from,
                    occurrence_starts_at=moved_from + timedelta(days=1),
                    occurrence_duration_minutes=60,
                    occurrence_location="Hamburg, Speicherstadt",
                    decided_by="ada",
                    decided_at=NOW,
                ),
            )
            await asyncio.to_thread(mail_sink.wait_for, 4, 20.0)
            await publish(
                js,
                alliances.OCCURRENCE_CANCELLED,
                alliances.OccurrenceCancelledV1(
                    **weekly_series(sequence=3), recurrence_id=cancelled_on, cancelled_by="ada", reason="Holidays",
                    cancelled_at=NOW,
                ),
            )  # fmt: skip
            await asyncio.to_thread(mail_sink.wait_for, 6, 20.0)
            await publish(
                js,
                alliances.MEETING_CANCELLED,
                alliances.MeetingCancelledV1(
                    **weekly_series(sequence=4), cancelled_by="ada", reason="", cancelled_at=NOW
                ),
            )
            messages = await asyncio.to_thread(mail_sink.wait_for, 8, 20.0)
        finally:
            await nc.close()
    to_grace = [m for m in messages if m["To"].addresses[0].addr_spec == "grace@example.org"]
    # Python's email folder moves a long subject to a continuation line; unfolded, it starts with that space.
    assert [m["Subject"].strip() for m in to_grace] == [
        "Changed: Course check <&> – Tuesday, 1 December 2026, 18:00 (Europe/Berlin)",
        "Moved: Course check <&> on Tuesday, 15 December 2026, 18:00 (Europe/Berlin)",
        "Cancelled: Course check <&> on Tuesday, 29 December 2026, 18:00 (Europe/Berlin)",
        "Cancelled: Course check <&>",
    ]
    for message in to_grace:
        assert message.get_content_type() == "multipart/mixed"
        [alternative] = [p for p in message.iter_parts() if p.get_content_type() == "multipart/alternative"]
        assert [p.get_content_type() for p in alternative.iter_parts()] == ["text/plain", "text/html", "text/calendar"]
        html = alternative.get_body(("html",))
        assert html is not None
        assert "Course check &lt;&amp;&gt;" in html.get_content()
        assert "List-Unsubscribe" not in message or "category=meetings" in message["List-Unsubscribe"]
    update, moved, one_cancelled, all_cancelled = (calendar_of(m) for m in to_grace)

    [series] = update.walk("VEVENT")
    assert str(update["METHOD"]) == "REQUEST"
    assert (str(series["UID"]), int_of(series, "SEQUENCE")) == ("m-7@kehrwasser", 1)
    assert series["RRULE"].to_ical() == b"FREQ=WEEKLY;INTERVAL=2;BYDAY=TU"
    assert series["DTSTART"].params["TZID"] == "Europe/Berlin"
    assert [str(z["TZID"]) for z in update.walk("VTIMEZONE")] == ["Europe/Berlin"]
    assert str(series["ORGANIZER"]) == "mailto:ada@example.org"
    assert series["ORGANIZER"].params["SENT-BY"] == "mailto:noreply@kehrwasser.local"
    assert str(series["ATTENDEE"]) == "mailto:grace@example.org"
    assert series["ATTENDEE"].params["RSVP"] == "TRUE"

    [instance] = moved.walk("VEVENT")
    assert str(moved["METHOD"]) == "REQUEST"
    assert (str(instance["UID"]), int_of(instance, "SEQUENCE")) == ("m-7@kehrwasser", 2)
    assert when_of(instance, "RECURRENCE-ID") == moved_from
    assert when_of(instance, "DTSTART") == moved_from + timedelta(days=1)
    assert str(instance["LOCATION"]) == "Hamburg, Speicherstadt"

    [gone] = one_cancelled.walk("VEVENT")
    assert (str(one_cancelled["METHOD"]), str(gone["STATUS"]), int_of(gone, "SEQUENCE")) == ("CANCEL", "CANCELLED", 3)
    assert when_of(gone, "RECURRENCE-ID") == cancelled_on

    [whole] = all_cancelled.walk("VEVENT")
    assert (str(all_cancelled["METHOD"]), str(whole["STATUS"]), str(whole["UID"])) == (
        "CANCEL",
        "CANCELLED",
        "m-7@kehrwasser",
    )
    assert "RECURRENCE-ID" not in whole


class MovableClock:
    """The time notify reads, standing still until a test moves it."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def yellow_warning(member_id: str) -> ledger.BalanceWarningV2:
    return red_warning(member_id).model_copy(update={"light": ledger.TrafficLight.YELLOW})


async def test_in_the_members_quiet_hours_a_yellow_warning_waits_for_the_morning_and_a_red_one_goes_at_once(
    nats_url: str, database_url: str, tmp_path: Path, mail_sink: MailSink
) -> None:
    clock = MovableClock(datetime(2026, 11, 24, 22, 30, tzinfo=UTC))  # 23:30 in Berlin, 17:30 in New York
    settings = settings_for(nats_url, database_url, tmp_path, mail_sink).model_copy(update={"mail_quiet_hours": "22-7"})
    async with running(bootstrap(settings, clock=clock)):
        nc = await nats.connect(nats_url)
        try:
            js = nc.jetstream()
            await publish(js, alliances.ALLIANCE_CREATED, hamburg_founded())
            await publish(js, members.MEMBER_REGISTERED, registered("ada", "Ada Lovelace", "de"))  # Berlin
            await publish(js, members.MEMBER_REGISTERED, registered("linus", "Linus Torvalds", "en"))  # Berlin
            await publish(js, members.MEMBER_REGISTERED, registered("grace", "Grace Hopper", "en"))
            moved = members.MemberProfileUpdatedV1(
                member_id="grace", name="Grace Hopper", company="", language="en", timezone="America/New_York",
                focus=[], changed=["timezone"], updated_at=NOW,
            )  # fmt: skip
            await publish(js, members.MEMBER_PROFILE_UPDATED, moved)
            await consumer_reaches(js, "members", handlers.MEMBERS_CONSUMER, settled(4))
            await consumer_reaches(js, "alliances", handlers.ALLIANCES_CONSUMER, settled(1))
            await publish(js, ledger.BALANCE_WARNING, yellow_warning("ada"))
            await publish(js, ledger.BALANCE_WARNING, red_warning("linus"))
            await publish(js, ledger.BALANCE_WARNING, yellow_warning("grace"))
            at_night = await asyncio.to_thread(mail_sink.wait_for, 2, 20.0)
            await consumer_reaches(js, "ledger", handlers.LEDGER_CONSUMER, settled(3))
            request = json.dumps({"member_id": "ada"}).encode()
            held = json.loads((await nc.request(notify.MAIL_LOG.subject, request, timeout=10)).data)
            clock.now = datetime(2026, 11, 25, 6, 0, tzinfo=UTC)  # 07:00 in Berlin: Ada's quiet hours are over
            in_the_morning = await asyncio.to_thread(mail_sink.wait_for, 3, 20.0)
            for _ in range(200):  # the mark follows the server's acceptance in a transaction of its own
                sent = json.loads((await nc.request(notify.MAIL_LOG.subject, request, timeout=10)).data)
                if sent["result"]["deliveries"][0]["status"] == "sent":
                    break
                await asyncio.sleep(0.05)
        finally:
            await nc.close()
    assert sorted(m["To"].addresses[0].addr_spec for m in at_night) == ["grace@example.org", "linus@example.org"]
    [waiting] = held["result"]["deliveries"]
    assert (waiting["kind"], waiting["status"], waiting["attempts"]) == ("balance-warning", "queued", 0)
    assert datetime.fromisoformat(waiting["next_attempt_at"]) == datetime(2026, 11, 25, 6, 0, tzinfo=UTC)
    assert in_the_morning[2]["To"].addresses[0].addr_spec == "ada@example.org"
    assert in_the_morning[2]["Subject"] == "Deine Beitragsbilanz in Hamburg Founders steht auf gelb"
    [delivered] = sent["result"]["deliveries"]
    assert (delivered["status"], datetime.fromisoformat(delivered["sent_at"])) == ("sent", clock.now)
