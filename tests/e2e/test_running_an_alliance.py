"""Running an alliance end to end (issue 11), through the four services over one real nats-server and SMTP.

A newcomer asks to join Hamburg Founders and the moderator is mailed the request with its direction alignment;
approved, the newcomer is welcomed and is on probation in the ledger until they give; the moderator schedules a
weekly series, moves one occurrence and cancels another; the newcomer leaves and is uninvited. Each step is
proven by the mails that arrive, parsed as MIME, their calendars by `icalendar`. The services run in this
process on one event loop (every command and event still crosses the nats-server, signed in as themselves);
tests/e2e/test_core_flow.py runs them as processes. Commands carry the previous reply's events in ``after``
instead of being retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
import nats
import pytest

from kehrwasser_alliances.bootstrap import bootstrap as alliances_service
from kehrwasser_alliances.config import AlliancesSettings
from kehrwasser_ledger.bootstrap import bootstrap as ledger_service
from kehrwasser_ledger.config import LedgerSettings
from kehrwasser_members.bootstrap import bootstrap as members_service
from kehrwasser_members.config import MembersSettings
from kehrwasser_notify.bootstrap import bootstrap as notify_service
from kehrwasser_notify.config import NotifySettings
from kehrwasser_shared.contracts import alliances, ledger, members, notify
from kehrwasser_shared.contracts.common import EventRef
from kehrwasser_shared.contracts.replies import CommandFailed
from kehrwasser_shared.embedded.mail_sink import MailSink
from kehrwasser_shared.messaging.client import CommandClient
from kehrwasser_shared.testing import running
from kehrwasser_shared.testing.databases import service_databases

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

SERVICES = ("members", "alliances", "ledger", "notify")
BERLIN = ZoneInfo("Europe/Berlin")
NEXT_YEAR = datetime.now(UTC).year + 1
# Wall-clock times in Berlin: the series meets on Tuesdays at 18:00, from the first Tuesday of next year.
FIRST_TUESDAY = next(
    datetime(NEXT_YEAR, 1, day, 18) for day in range(1, 8) if datetime(NEXT_YEAR, 1, day).weekday() == 1
)
MOVED, CANCELLED = FIRST_TUESDAY + timedelta(days=7), FIRST_TUESDAY + timedelta(days=14)
MOVED_TO = MOVED + timedelta(days=1, hours=1)
PROBATION_LIMIT = Decimal("5")


@pytest.fixture
def databases(database_url: str, tmp_path: Path) -> Iterator[dict[str, str]]:
    """Each service a database of its own, all of the parametrised kind."""
    with service_databases(database_url, tmp_path, SERVICES, on_parametrised="ledger") as urls:
        yield urls


def recipient(message: EmailMessage) -> str:
    return str(message["To"].addresses[0].addr_spec)


async def mails_to(sink: MailSink, address: str, count: int, timeout: float = 30.0) -> list[EmailMessage]:
    """The mails to ``address`` in order of arrival, once there are ``count`` of them (waiting on the sink's
    condition, with a deadline)."""
    received = await asyncio.to_thread(sink.wait_for_matching, lambda m: recipient(m) == address, count, timeout)
    assert len(received) >= count, f"{len(received)} of {count} mails to {address} within {timeout}s: " + repr(
        [(recipient(m), m["Subject"]) for m in sink.messages]
    )
    return received


def body_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def imip(message: EmailMessage, method: str) -> icalendar.Calendar:
    """The calendar of an iMIP message, after checking its MIME shape: multipart/mixed holding
    multipart/alternative (text, HTML, the calendar with ``method=``) and the same calendar as an .ics file."""
    assert message.get_content_type() == "multipart/mixed"
    [alternative, attachment] = list(message.iter_parts())
    assert alternative.get_content_type() == "multipart/alternative"
    text, html, calendar = list(alternative.iter_parts())
    assert [text.get_content_type(), html.get_content_type(), calendar.get_content_type()] == [
        "text/plain",
        "text/html",
        "text/calendar",
    ]
    assert calendar.get_param("method") == method
    filename = attachment.get_filename()
    assert filename is not None
    assert filename.endswith(".ics")
    payload = calendar.get_payload(decode=True)
    assert isinstance(payload, bytes)
    assert attachment.get_payload(decode=True) == payload
    parsed = icalendar.Calendar.from_ical(payload)
    assert str(parsed["METHOD"]) == method
    return parsed


def only_event(calendar: icalendar.Calendar) -> icalendar.Component:
    [event] = calendar.walk("VEVENT")
    return event


def sequence_of(event: icalendar.Component) -> int:
    return int(str(event["SEQUENCE"]))


def when(event: icalendar.Component, name: str) -> datetime:
    value = event.decoded(name)
    assert isinstance(value, datetime)
    return value


def assert_people(event: icalendar.Component, organizer: str, attendee: str) -> None:
    assert str(event["ORGANIZER"]).lower() == f"mailto:{organizer}"
    attendees = event["ATTENDEE"]
    assert not isinstance(attendees, list), "one message per attendee, naming that attendee alone"
    assert str(attendees).lower() == f"mailto:{attendee}"
    assert attendees.params["RSVP"] == "TRUE"


def gift(
    alliance_id: str, giver_id: str, receiver_id: str, value: str, after: list[EventRef]
) -> ledger.RecordContribution:
    return ledger.RecordContribution(
        contribution_id=str(uuid.uuid4()),
        alliance_id=alliance_id,
        giver_id=giver_id,
        receiver_id=receiver_id,
        kind=ledger.ContributionKind.ADVICE,
        value=Decimal(value),
        note="pricing",
        after=after,
    )


async def test_ask_to_join_probation_a_changed_series_and_leaving_arrive_as_mails(
    nats_url: str, databases: dict[str, str], tmp_path: Path, mail_sink: MailSink
) -> None:
    common: dict[str, Any] = {"nats_url": nats_url, "outbox_poll_seconds": 0.2, "consumer_backoff_seconds": [0.2]}
    parts = [
        members_service(MembersSettings(data_dir=tmp_path / "m", database_url=databases["members"], **common)),
        alliances_service(AlliancesSettings(data_dir=tmp_path / "a", database_url=databases["alliances"], **common)),
        ledger_service(LedgerSettings(data_dir=tmp_path / "l", database_url=databases["ledger"], **common)),
        notify_service(
            NotifySettings(
                data_dir=tmp_path / "n",
                database_url=databases["notify"],
                smtp_host=mail_sink.host,
                smtp_port=mail_sink.port,
                mail_poll_seconds=0.2,
                **common,
            )
        ),
    ]
    async with contextlib.AsyncExitStack() as stack:
        for part in parts:
            await stack.enter_async_context(running(part))
        nc = await nats.connect(nats_url)
        stack.push_async_callback(nc.close)
        client = CommandClient(nc)

        # The moderator reads German, the newcomer English; their focus overlaps in saas.
        ada, ada_registered = await client.send_for_events(
            members.REGISTER,
            members.RegisterMember(
                name="Ada Lovelace", email="ada@example.org", language="de", focus=["fintech", "saas"]
            ),
        )
        grace, grace_registered = await client.send_for_events(
            members.REGISTER,
            members.RegisterMember(
                name="Grace Hopper", email="grace@example.org", language="en", focus=["saas", "marketing"]
            ),
        )
        founded, created = await client.send_for_events(
            alliances.CREATE,
            alliances.CreateAlliance(
                name="Hamburg Founders",
                purpose="Challenge each other's course",
                focus=["fintech", "saas"],
                warning_threshold=Decimal("-10"),
                alignment_threshold=30,
                moderator_id=ada.member_id,
                after=ada_registered,
            ),
        )
        hamburg = founded.alliance_id
        await client.send(
            ledger.SET_POLICY,
            ledger.SetPolicy(
                alliance_id=hamburg, requested_by=ada.member_id, probation_limit=PROBATION_LIMIT, after=created
            ),
        )

        # Ask to join: the moderator is mailed the request with the alignment, and sees it among the requests.
        # Score: round(100 * (0.6 * J({saas, marketing}, {fintech, saas}) + 0.4 * the same against Ada's)) = 33.
        await client.send(
            alliances.REQUEST,
            alliances.RequestMembership(
                alliance_id=hamburg, member_id=grace.member_id, message="SaaS pricing", after=grace_registered
            ),
        )
        [request] = await mails_to(mail_sink, ada.email or "", 1)
        assert request["Content-Language"] == "de"
        assert str(request["Subject"]) == "Grace Hopper möchte in Hamburg Founders aufgenommen werden"
        assert "Ausrichtung: 33 von 100; gemeinsam: saas; es fehlt: fintech." in body_of(request)
        pending = await client.send(
            alliances.PENDING_REQUESTS, alliances.PendingRequests(alliance_id=hamburg, requested_by=ada.member_id)
        )
        [waiting] = pending.items
        assert (waiting.member_id, waiting.message) == (grace.member_id, "SaaS pricing")
        assert (waiting.alignment.score, waiting.alignment.matching, waiting.alignment.missing) == (
            33,
            ["saas"],
            ["fintech"],
        )
        assert not waiting.needs_override

        # Approved: the newcomer is welcomed in English.
        approved, joined = await client.send_for_events(
            alliances.APPROVE,
            alliances.ApproveMembership(alliance_id=hamburg, member_id=grace.member_id, requested_by=ada.member_id),
        )
        assert (approved.status, approved.decided_by) == ("member", ada.member_id)
        [welcome] = await mails_to(mail_sink, grace.email or "", 1)
        assert welcome["Content-Language"] == "en"
        assert str(welcome["Subject"]) == "Welcome to the alliance Hamburg Founders"

        # Probation: until she gives, the newcomer may receive only the probation limit in all.
        await client.send(ledger.RECORD_CONTRIBUTION, gift(hamburg, ada.member_id, grace.member_id, "3", joined))
        with pytest.raises(CommandFailed) as beyond:
            await client.send(ledger.RECORD_CONTRIBUTION, gift(hamburg, ada.member_id, grace.member_id, "4", []))
        assert beyond.value.code == "probation-limit"
        lights = await client.send(
            ledger.TRAFFIC_LIGHT, ledger.QueryTrafficLight(alliance_id=hamburg, member_id=grace.member_id)
        )
        assert [(m.on_probation, m.received) for m in lights.members] == [(True, Decimal("3"))]
        await client.send(ledger.RECORD_CONTRIBUTION, gift(hamburg, grace.member_id, ada.member_id, "1", []))
        accepted = await client.send(ledger.RECORD_CONTRIBUTION, gift(hamburg, ada.member_id, grace.member_id, "4", []))
        assert accepted.receiver_balance == Decimal("-6")
        lights = await client.send(
            ledger.TRAFFIC_LIGHT, ledger.QueryTrafficLight(alliance_id=hamburg, member_id=grace.member_id)
        )
        assert [(m.on_probation, m.light) for m in lights.members] == [(False, ledger.TrafficLight.GREEN)]

        # A weekly series: every member gets a REQUEST of the series, with its RRULE, a stable UID, SEQUENCE 0.
        meeting = await client.send(
            alliances.SCHEDULE_MEETING,
            alliances.ScheduleMeeting(
                alliance_id=hamburg,
                requested_by=ada.member_id,
                title="Course check",
                starts_at=FIRST_TUESDAY,
                timezone="Europe/Berlin",
                duration_minutes=90,
                location="https://meet.example.org/hamburg",
                agenda="Who needs a word?",
                rrule="FREQ=WEEKLY;BYDAY=TU",
            ),
        )
        uid = f"{meeting.meeting_id}@kehrwasser"
        for member, count in ((ada, 2), (grace, 2)):
            invitation = (await mails_to(mail_sink, member.email or "", count))[-1]
            series = only_event(imip(invitation, "REQUEST"))
            assert (str(series["UID"]), sequence_of(series)) == (uid, 0)
            assert series["RRULE"].to_ical() == b"FREQ=WEEKLY;BYDAY=TU"
            assert series["DTSTART"].params["TZID"] == "Europe/Berlin"
            assert when(series, "DTSTART") == FIRST_TUESDAY.replace(tzinfo=BERLIN)
            assert str(series["STATUS"]) == "CONFIRMED"
            assert_people(series, organizer=ada.email or "", attendee=member.email or "")
        ada_invitation = (await mails_to(mail_sink, ada.email or "", 2))[-1]
        grace_invitation = (await mails_to(mail_sink, grace.email or "", 2))[-1]
        assert (ada_invitation["Content-Language"], grace_invitation["Content-Language"]) == ("de", "en")
        assert str(ada_invitation["Subject"]).startswith("Einladung: Course check")
        assert str(grace_invitation["Subject"]).startswith("Invitation: Course check")

        # One occurrence moved: a REQUEST of that occurrence alone (RECURRENCE-ID), same UID, higher SEQUENCE.
        await client.send(
            alliances.RESCHEDULE_OCCURRENCE,
            alliances.RescheduleOccurrence(
                meeting_id=meeting.meeting_id,
                requested_by=ada.member_id,
                recurrence_id=MOVED,
                starts_at=MOVED_TO,
                location="Kontorhaus",
            ),
        )
        for member in (ada, grace):
            moved = only_event(imip((await mails_to(mail_sink, member.email or "", 3))[-1], "REQUEST"))
            assert (str(moved["UID"]), sequence_of(moved)) == (uid, 1)
            assert when(moved, "RECURRENCE-ID") == MOVED.replace(tzinfo=BERLIN)
            assert when(moved, "DTSTART") == MOVED_TO.replace(tzinfo=BERLIN)
            assert str(moved["LOCATION"]) == "Kontorhaus"
            assert "RRULE" not in moved
            assert_people(moved, organizer=ada.email or "", attendee=member.email or "")

        # Another cancelled: a CANCEL of that occurrence (RECURRENCE-ID, STATUS:CANCELLED), SEQUENCE higher again.
        await client.send(
            alliances.CANCEL_OCCURRENCE,
            alliances.CancelOccurrence(
                meeting_id=meeting.meeting_id, requested_by=ada.member_id, recurrence_id=CANCELLED, reason="Holiday"
            ),
        )
        for member in (ada, grace):
            gone = only_event(imip((await mails_to(mail_sink, member.email or "", 4))[-1], "CANCEL"))
            assert (str(gone["UID"]), sequence_of(gone), str(gone["STATUS"])) == (uid, 2, "CANCELLED")
            assert when(gone, "RECURRENCE-ID") == CANCELLED.replace(tzinfo=BERLIN)
            assert_people(gone, organizer=ada.email or "", attendee=member.email or "")

        # The newcomer leaves: the series is cancelled for her alone, and the ledger refuses what she gives.
        _, left = await client.send_for_events(
            alliances.LEAVE, alliances.LeaveAlliance(alliance_id=hamburg, member_id=grace.member_id)
        )
        uninvited = (await mails_to(mail_sink, grace.email or "", 5))[-1]
        assert uninvited["Content-Language"] == "en"
        assert str(uninvited["Subject"]) == "No longer invited: Course check"
        whole = only_event(imip(uninvited, "CANCEL"))
        assert (str(whole["UID"]), str(whole["STATUS"])) == (uid, "CANCELLED")
        assert "RECURRENCE-ID" not in whole, "the whole series, not one occurrence"
        # Not older than the last change she was sent, so that her calendar applies it.
        assert sequence_of(whole) >= 2
        assert_people(whole, organizer=ada.email or "", attendee=grace.email or "")
        with pytest.raises(CommandFailed) as gone_member:
            await client.send(ledger.RECORD_CONTRIBUTION, gift(hamburg, grace.member_id, ada.member_id, "1", left))
        assert gone_member.value.code == "not-a-member"

        # Nothing else reaches her: the moderator then cancels the series, and her own CANCEL (a later event, which
        # notify handles after her removal) is the marker; once it has arrived, her delivery log is complete.
        await client.send(
            alliances.CANCEL_MEETING,
            alliances.CancelMeeting(meeting_id=meeting.meeting_id, requested_by=ada.member_id, reason="We pause"),
        )
        marker = only_event(imip((await mails_to(mail_sink, ada.email or "", 5))[-1], "CANCEL"))
        assert (str(marker["UID"]), "RECURRENCE-ID" in marker) == (uid, False)
        log = await client.send(notify.MAIL_LOG, notify.MailLog(member_id=grace.member_id))
        assert [(d.kind, d.status) for d in log.deliveries] == [
            ("meeting-attendee-removed", "sent"),
            ("occurrence-cancelled", "sent"),
            ("occurrence-rescheduled", "sent"),
            ("meeting-invitation", "sent"),
            ("member-joined", "sent"),
        ]
        assert len([m for m in mail_sink.messages if recipient(m) == grace.email]) == 5
        assert len(mail_sink.messages) == 10
