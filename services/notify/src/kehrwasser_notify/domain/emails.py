"""Build the emails: multipart plain text and HTML, and for meetings an iCalendar REQUEST (RFC 5545/5546).

Pure functions: they take what the mail says and return ``EmailMessage`` objects, never send anything.
Text that goes into a header is refused (`UnsafeHeaderText`) rather than cleaned up when it holds a control
character: a line break there would start a header of its own (``Bcc: ...``).
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import Any, NamedTuple
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

import icalendar

from .model import Contact
from .templates import Templates, Texts

PRODID = "-//Kehrwasser//Alliances//EN"
# Unicode's control characters (C0, DEL, C1) and its line and paragraph separators: mail programs end a
# header line at some of them, and none of them belongs in a name or a subject.
UNSAFE_IN_HEADERS = frozenset({"Cc", "Zl", "Zp"})


class UnsafeHeaderText(ValueError):
    """Text that would go into a header holds a control character."""


class Rendered(NamedTuple):
    recipient: str
    """The address the message is written to, as its To header has it."""
    message: bytes


class NotRendered(NamedTuple):
    reason: str


def render(build: Callable[[], EmailMessage]) -> Rendered | NotRendered:
    """One recipient's message as bytes, or why it cannot be built.

    Building is pure, so a message that cannot be built now never can: the reason is returned, not raised,
    and the other recipients of the same event get theirs.
    """
    try:
        message = build()
        return Rendered(message["To"].addresses[0].addr_spec, message.as_bytes())
    except Exception as exc:
        return NotRendered(f"cannot build the message: {exc!r}")


class Unsubscribe(NamedTuple):
    """A member's unsubscribe links for one category of mail (RFC 2369 ``List-Unsubscribe``)."""

    https: str
    mailto: str


@dataclass(frozen=True)
class MailLinks:
    """Where the links in the mail lead: the gateway's https base and the mailbox that takes unsubscribes."""

    base_url: str
    unsubscribe_address: str

    def unsubscribe(self, token: str, category: str) -> Unsubscribe:
        query = urlencode({"token": token, "category": category})
        subject = quote(f"unsubscribe {category} {token}")
        return Unsubscribe(
            f"{self.base_url.rstrip('/')}/unsubscribe?{query}", f"mailto:{self.unsubscribe_address}?subject={subject}"
        )

    def confirm_email(self, token: str) -> str:
        return f"{self.base_url.rstrip('/')}/confirm-email?{urlencode({'token': token})}"


@dataclass(frozen=True)
class MeetingDetails:
    meeting_id: str
    sequence: int
    alliance_name: str
    title: str
    starts_at: datetime
    """The start: an instant (with offset), or, in events from before that, the wall-clock time in `timezone`."""
    timezone: str
    duration_minutes: int
    location: str

    def wall_clock_start(self) -> datetime:
        """The start as clocks in `timezone` show it (without offset)."""
        if self.starts_at.tzinfo is None:
            return self.starts_at
        return self.starts_at.astimezone(ZoneInfo(self.timezone)).replace(tzinfo=None)


def balance_warning(
    *,
    sender: str,
    contact: Contact,
    alliance_name: str,
    balance: Decimal,
    threshold: Decimal | None,
    light: str,
    message_id: str,
    now: datetime,
    templates: Templates | None = None,
    unsubscribe: Unsubscribe | None = None,
) -> EmailMessage:
    texts = (templates or packaged()).render(
        "balance-warning",
        contact.language,
        name=contact.name,
        alliance=alliance_name,
        balance=balance,
        threshold=threshold,
        light=light,
    )
    return _plain_and_html(sender, contact, texts, message_id, now, unsubscribe)


def red_escalation(
    *,
    sender: str,
    moderator: Contact,
    member_name: str,
    alliance_name: str,
    balance: Decimal,
    threshold: Decimal | None,
    message_id: str,
    now: datetime,
    templates: Templates | None = None,
    unsubscribe: Unsubscribe | None = None,
) -> EmailMessage:
    texts = (templates or packaged()).render(
        "balance-escalation",
        moderator.language,
        moderator=moderator.name,
        member=member_name,
        alliance=alliance_name,
        balance=balance,
        threshold=threshold,
    )
    return _plain_and_html(sender, moderator, texts, message_id, now, unsubscribe)


def email_change(
    *,
    sender: str,
    contact: Contact,
    confirm_url: str,
    expires_at: datetime,
    message_id: str,
    now: datetime,
    templates: Templates | None = None,
) -> EmailMessage:
    """The confirmation of a new address, to that address: transactional, so no unsubscribe link."""
    texts = (templates or packaged()).render(
        "email-change",
        contact.language,
        name=contact.name,
        confirm_url=confirm_url,
        expires_at=expires_at,
        timezone=contact.timezone,
    )
    return _plain_and_html(sender, contact, texts, message_id, now, None)


def notice(
    *,
    sender: str,
    contact: Contact,
    kind: str,
    # The context may hold a ``kind`` of its own (a contribution's): the template's is positional below.
    context: dict[str, Any],
    message_id: str,
    now: datetime,
    templates: Templates | None = None,
    unsubscribe: Unsubscribe | None = None,
) -> EmailMessage:
    """A message of ``kind`` to ``contact`` (called ``name``, or ``moderator`` in a note to moderators), its
    times in the contact's ``timezone``."""
    texts = (templates or packaged()).render(
        kind, contact.language, name=contact.name, moderator=contact.name, timezone=contact.timezone, **context
    )
    return _plain_and_html(sender, contact, texts, message_id, now, unsubscribe)


def _plain_and_html(
    sender: str, contact: Contact, texts: Texts, message_id: str, now: datetime, unsubscribe: Unsubscribe | None
) -> EmailMessage:
    message = _envelope(sender, contact, texts.subject, message_id, now, unsubscribe)
    message.set_content(texts.text)
    message.add_alternative(texts.html, subtype="html")
    message["Content-Language"] = header_text(contact.language, "language")
    return message


def meeting_invitation(
    *,
    sender: str,
    contact: Contact,
    organizer: Contact | None,
    meeting: MeetingDetails,
    message_id: str,
    now: datetime,
    templates: Templates | None = None,
    unsubscribe: Unsubscribe | None = None,
) -> EmailMessage:
    language = contact.language
    texts = (templates or packaged()).render(
        "meeting-invitation",
        language,
        name=contact.name,
        alliance=meeting.alliance_name,
        title=meeting.title,
        start=meeting.wall_clock_start(),
        timezone=meeting.timezone,
        location=meeting.location,
        duration=meeting.duration_minutes,
    )
    calendar = meeting_calendar(meeting, attendee=contact, organizer=organizer, sender=sender, now=now)
    message = _envelope(sender, contact, texts.subject, message_id, now, unsubscribe)
    message.set_content(texts.text)
    message.add_alternative(texts.html, subtype="html")
    # Calendar clients look for the REQUEST inside multipart/alternative; some mail programs only offer
    # the attached .ics, so it goes both ways, as the big calendar services send it.
    message.add_alternative(calendar.decode(), subtype="calendar", params={"method": "REQUEST"})
    message.add_attachment(calendar, maintype="application", subtype="ics", filename="invite.ics")
    # Set last: turning the message multipart moves Content-* headers down into the first part.
    message["Content-Language"] = header_text(language, "language")
    return message


@functools.cache
def packaged() -> Templates:
    """The templates installed with the service (read once, through importlib.resources)."""
    return Templates.packaged()


def meeting_calendar(
    meeting: MeetingDetails, *, attendee: Contact, organizer: Contact | None, sender: str, now: datetime
) -> bytes:
    zone = ZoneInfo(meeting.timezone)
    start = meeting.wall_clock_start().replace(tzinfo=zone)
    calendar = icalendar.Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "REQUEST")
    # A VTIMEZONE for the years around the meeting keeps the invite small and exact for clients that
    # do not know the zone by name.
    calendar.add_component(_vtimezone(meeting.timezone, start.year))
    event = icalendar.Event()
    event.add("uid", f"{meeting.meeting_id}@kehrwasser")
    event.add("sequence", meeting.sequence)
    event.add("dtstamp", now)
    event.add("dtstart", start)
    event.add("dtend", start + timedelta(minutes=meeting.duration_minutes))
    event.add("summary", meeting.title)
    event.add("description", f"{meeting.alliance_name}: {meeting.title}")
    if meeting.location:
        event.add("location", meeting.location)
    event.add("status", "CONFIRMED")
    event.add("transp", "OPAQUE")
    organizer_name, organizer_email = (
        (organizer.name, organizer.email) if organizer else (parseaddr(sender)[0] or "Kehrwasser", parseaddr(sender)[1])
    )
    event.add("organizer", _address(organizer_email, CN=organizer_name))
    event.add(
        "attendee",
        _address(
            attendee.email,
            CN=attendee.name,
            ROLE="REQ-PARTICIPANT",
            PARTSTAT="NEEDS-ACTION",
            RSVP="TRUE",
            CUTYPE="INDIVIDUAL",
        ),
    )
    calendar.add_component(event)
    ical: bytes = calendar.to_ical()
    return ical


@functools.lru_cache(maxsize=64)
def _vtimezone(tzid: str, year: int) -> icalendar.Timezone:
    """The zone's VTIMEZONE from the year before ``year`` to two after; computed once per zone and year (it is
    most of a calendar's building time, and the same for every attendee). Only ever serialised, never changed."""
    return icalendar.Timezone.from_tzid(tzid, first_date=date(year - 1, 1, 1), last_date=date(year + 2, 1, 1))


def _address(email: str, **params: str) -> icalendar.vCalAddress:
    address = icalendar.vCalAddress(f"mailto:{email}")
    for key, value in params.items():
        address.params[key] = value
    return address


def _envelope(
    sender: str, contact: Contact, subject: str, message_id: str, now: datetime, unsubscribe: Unsubscribe | None
) -> EmailMessage:
    sender_name, sender_address = parseaddr(sender)
    message = EmailMessage()
    # Address objects, not strings: the header registry quotes a display name and parses the address itself.
    message["From"] = Address(display_name=header_text(sender_name, "sender's name"), addr_spec=sender_address)
    message["To"] = Address(display_name=header_text(contact.name, "recipient's name"), addr_spec=contact.email)
    message["Subject"] = header_text(subject, "subject")
    message["Date"] = format_datetime(now)
    message["Message-ID"] = message_id
    message["Auto-Submitted"] = "auto-generated"
    if unsubscribe is not None:
        # RFC 2369 and RFC 8058: a mail program may offer "unsubscribe" and POST to the https link at one click.
        message["List-Unsubscribe"] = f"<{unsubscribe.https}>, <{unsubscribe.mailto}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    return message


def header_text(text: str, what: str) -> str:
    """``text`` unchanged if it may go into a header; `UnsafeHeaderText` naming the character if not."""
    for character in text:
        if unicodedata.category(character) in UNSAFE_IN_HEADERS:
            raise UnsafeHeaderText(f"the {what} holds the control character U+{ord(character):04X}")
    return text
