"""The emails as calendar programs and mail readers will see them (pure rendering, no I/O)."""

from __future__ import annotations

import dataclasses
import email
import email.policy
import re
import unicodedata
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import icalendar
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from notify_examples import NOW

from kehrwasser_notify.domain import emails
from kehrwasser_notify.domain.model import Contact, RetryPolicy, delivery_id
from kehrwasser_shared.contracts.common import SINGLE_LINE

SENDER = "Kehrwasser <noreply@kehrwasser.local>"
ADA = Contact("ada", "Ada Lovelace", "ada@example.org", "de")
LINUS = Contact("linus", "Linus <Torvalds>", "linus@example.org", "en")
COURSE_CHECK = emails.MeetingDetails(
    meeting_id="m-1",
    sequence=0,
    alliance_name="Hamburg Founders",
    title="Course check",
    starts_at=datetime(2026, 12, 1, 18, 0),
    timezone="Europe/Berlin",
    duration_minutes=90,
    location="https://meet.example.org/hamburg",
)


def parsed(message: email.message.EmailMessage) -> email.message.EmailMessage:
    result = email.message_from_bytes(message.as_bytes(), policy=email.policy.default)
    assert isinstance(result, email.message.EmailMessage)
    return result


def test_balance_warning_speaks_english_and_escapes_names_in_html() -> None:
    message = parsed(
        emails.balance_warning(
            sender=SENDER,
            contact=LINUS,
            alliance_name="Hamburg Founders",
            balance=Decimal("-7"),
            threshold=Decimal("-5"),
            light="red",
            message_id="<w1@kehrwasser>",
            now=NOW,
        )
    )
    assert message["Content-Language"] == "en"
    assert message["Subject"] == "Your balance of contribution in Hamburg Founders is red"
    plain = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "-7.00 points, below the threshold of -5.00" in plain
    assert "moderators are told as well" in plain
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "Linus &lt;Torvalds&gt;" in html


def test_balance_warning_in_german_uses_a_decimal_comma() -> None:
    message = parsed(
        emails.balance_warning(
            sender=SENDER,
            contact=ADA,
            alliance_name="Hamburg Founders",
            balance=Decimal("-7.5"),
            threshold=Decimal("-2"),
            light="yellow",
            message_id="<w2@kehrwasser>",
            now=NOW,
        )
    )
    assert message["Content-Language"] == "de"
    assert message["Subject"] == "Deine Beitragsbilanz in Hamburg Founders steht auf gelb"
    assert "-7,50 Punkten" in message.get_body(("plain",)).get_content()  # type: ignore[union-attr]


def test_an_inactivity_warning_says_that_nothing_was_given_lately() -> None:
    message = parsed(
        emails.balance_warning(
            sender=SENDER,
            contact=LINUS,
            alliance_name="Hamburg Founders",
            balance=Decimal("3"),
            threshold=None,
            light="yellow",
            message_id="<w3@kehrwasser>",
            now=NOW,
        )
    )
    assert "not contributed anything lately" in message.get_body(("plain",)).get_content()  # type: ignore[union-attr]


def test_a_red_escalation_tells_the_moderator_in_the_moderators_language() -> None:
    message = parsed(
        emails.red_escalation(
            sender=SENDER,
            moderator=ADA,
            member_name="Linus Torvalds",
            alliance_name="Hamburg Founders",
            balance=Decimal("-12"),
            threshold=Decimal("-10"),
            message_id="<e1@kehrwasser>",
            now=NOW,
        )
    )
    assert message["To"].addresses[0].addr_spec == ADA.email
    assert message["Subject"] == "Linus Torvalds steht in Hamburg Founders auf Rot"
    assert "-12,00 Punkten" in message.get_body(("plain",)).get_content()  # type: ignore[union-attr]


def test_meeting_invitation_carries_a_request_with_timezone_uid_and_attendee() -> None:
    message = parsed(
        emails.meeting_invitation(
            sender=SENDER, contact=ADA, organizer=LINUS, meeting=COURSE_CHECK, message_id="<i1@kehrwasser>", now=NOW
        )
    )
    assert message.get_content_type() == "multipart/mixed"
    [calendar_part] = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
    assert calendar_part.get_param("method") == "REQUEST"
    [attachment] = [p for p in message.walk() if p.get_filename() == "invite.ics"]
    assert attachment.get_content_type() == "application/ics"
    calendar = icalendar.Calendar.from_ical(payload_of(calendar_part))
    assert str(calendar["METHOD"]) == "REQUEST"
    assert [str(tz["TZID"]) for tz in calendar.walk("VTIMEZONE")] == ["Europe/Berlin"]
    [event] = calendar.walk("VEVENT")
    assert str(event["UID"]) == "m-1@kehrwasser"
    assert event["DTSTART"].params["TZID"] == "Europe/Berlin"
    assert moment(event, "DTSTART").utcoffset() == timedelta(hours=1)
    assert moment(event, "DTEND") - moment(event, "DTSTART") == timedelta(minutes=90)
    assert str(event["ATTENDEE"]) == "mailto:ada@example.org"
    assert event["ATTENDEE"].params["RSVP"] == "TRUE"
    assert str(event["ORGANIZER"]) == "mailto:linus@example.org"
    assert message["Subject"].startswith("Einladung: Course check")


def test_delivery_ids_are_stable_per_event_member_and_kind() -> None:
    assert delivery_id("e1", "ada", "warning") == delivery_id("e1", "ada", "warning")
    assert delivery_id("e1", "ada", "warning") != delivery_id("e1", "grace", "warning")


def test_retry_delays_grow_exponentially_and_are_capped() -> None:
    policy = RetryPolicy(first=timedelta(seconds=30), longest=timedelta(hours=1), jitter_share=0.5)
    assert [policy.delay(n, jitter=0.0).total_seconds() for n in (1, 2, 3, 30)] == [30, 60, 120, 3600]


def test_jitter_shortens_a_delay_by_at_most_its_share() -> None:
    policy = RetryPolicy(first=timedelta(seconds=60), jitter_share=0.5)
    assert policy.delay(1, jitter=0.0) == timedelta(seconds=60)
    assert policy.delay(1, jitter=0.999) > timedelta(seconds=30)
    assert policy.delay(1, jitter=0.5) == timedelta(seconds=45)


def test_a_temporary_failure_is_given_up_once_the_next_attempt_would_pass_the_horizon() -> None:
    policy = RetryPolicy(first=timedelta(minutes=1), longest=timedelta(hours=1), horizon=timedelta(hours=48))
    queued = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    assert policy.next_attempt(3, queued, queued + timedelta(hours=40), 0.0) == queued + timedelta(hours=40, minutes=4)
    assert policy.next_attempt(50, queued, queued + timedelta(hours=47, minutes=30), 0.0) is None


def warning_to(contact: Contact) -> emails.Rendered | emails.NotRendered:
    return emails.render(
        lambda: emails.balance_warning(
            sender=SENDER,
            contact=contact,
            alliance_name="Hamburg Founders",
            balance=Decimal("-7"),
            threshold=Decimal("-5"),
            light="red",
            message_id="<w4@kehrwasser>",
            now=NOW,
        )
    )


@pytest.mark.parametrize("character", ["\r", "\n", "\x00", "\x0b", "\x1f", "\x7f", "\x85", "\u2028", "\u2029", "\t"])
def test_a_name_with_a_control_character_is_refused_not_written_into_a_header(character: str) -> None:
    # Python's own header check stops CR and LF in a subject, but lets NUL, vertical tab and others through.
    result = warning_to(Contact("eve", f"Eve{character}Bcc: x@y.z", "eve@example.org", "en"))
    assert isinstance(result, emails.NotRendered)
    assert f"recipient's name holds the control character U+{ord(character):04X}" in result.reason


def test_a_rendered_message_names_its_recipient_as_its_to_header_has_it() -> None:
    result = warning_to(LINUS)
    assert isinstance(result, emails.Rendered)
    assert result.recipient == "linus@example.org"
    assert parsed_bytes(result.message)["To"].addresses[0].display_name == "Linus <Torvalds>"


def test_an_address_that_is_not_one_address_is_refused() -> None:
    result = warning_to(Contact("eve", "Eve", "eve@example.org, mallory@example.org", "en"))
    assert isinstance(result, emails.NotRendered)


def test_headers_refuse_exactly_what_a_single_line_contract_field_refuses() -> None:
    """The domain does not import the contracts; this keeps its rule and theirs the same."""
    single_line = re.compile(SINGLE_LINE)
    characters = [chr(code) for code in range(0x110000) if not 0xD800 <= code <= 0xDFFF]
    refused_by_contract = {c for c in characters if single_line.fullmatch(c) is None}
    refused_in_headers = {c for c in characters if unicodedata.category(c) in emails.UNSAFE_IN_HEADERS}
    assert refused_in_headers == refused_by_contract


INVITATION_HEADERS = sorted(
    [
        "From",
        "To",
        "Subject",
        "Date",
        "Message-ID",
        "Auto-Submitted",
        "MIME-Version",
        "Content-Type",
        "Content-Language",
    ]
)


@settings(max_examples=200, deadline=None)
@given(name=st.text(max_size=30), title=st.text(max_size=30))
def test_no_name_or_title_adds_a_header_to_an_invitation(name: str, title: str) -> None:
    contact = Contact("eve", name, "eve@example.org", "en")
    meeting = dataclasses.replace(COURSE_CHECK, title=title)
    result = emails.render(
        lambda: emails.meeting_invitation(
            sender=SENDER, contact=contact, organizer=LINUS, meeting=meeting, message_id="<i2@kehrwasser>", now=NOW
        )
    )
    unsafe = any(unicodedata.category(c) in emails.UNSAFE_IN_HEADERS for c in name + title)
    assert isinstance(result, emails.NotRendered) == unsafe, result
    if isinstance(result, emails.Rendered):
        message = parsed_bytes(result.message)
        assert sorted(message.keys()) == INVITATION_HEADERS
        assert [a.addr_spec for a in message["To"].addresses] == ["eve@example.org"]
        [event] = icalendar.Calendar.from_ical(
            payload_of(next(p for p in message.walk() if p.get_content_type() == "text/calendar"))
        ).walk("VEVENT")
        assert str(event["SUMMARY"]) == title


def payload_of(part: email.message.Message) -> bytes:
    payload = part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload


def moment(event: icalendar.Component, name: str) -> datetime:
    """A date-time property's value (icalendar types every property as any of its value types)."""
    value = event.decoded(name)
    assert isinstance(value, datetime)
    return value


def parsed_bytes(raw: bytes) -> email.message.EmailMessage:
    result = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(result, email.message.EmailMessage)
    return result
