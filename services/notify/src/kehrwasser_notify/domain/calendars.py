"""iMIP messages (RFC 6047) about meetings and series after they changed: REQUEST and CANCEL (iTIP, RFC 5546).

One message per attendee: ``multipart/mixed`` holding ``multipart/alternative`` (text, HTML and
``text/calendar; method=...``, the METHOD of the calendar inside) and the same calendar as an ``.ics`` attachment.
The UID stays the same for the meeting's life, SEQUENCE is the event's, DTSTAMP is the moment of building (every
send builds anew), a VTIMEZONE covers the dates, a series has its RRULE, EXDATEs for cancelled occurrences and an
overriding VEVENT (RECURRENCE-ID) per moved one; the ORGANIZER is a bare ``mailto:`` with ``SENT-BY`` our
sender, since the mail comes From another address than the organizer's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import parseaddr
from typing import Any, Literal
from zoneinfo import ZoneInfo

import icalendar

from .emails import PRODID, Unsubscribe, _address, _envelope, _vtimezone, header_text, packaged
from .model import Contact
from .templates import Templates

Method = Literal["REQUEST", "CANCEL"]


@dataclass(frozen=True)
class Occurrence:
    """One occurrence that differs from its series' rule."""

    recurrence_id: datetime
    cancelled: bool
    starts_at: datetime | None = None
    duration_minutes: int | None = None
    location: str | None = None


@dataclass(frozen=True)
class Series:
    """A meeting or series as it stands: what the alliances service's meeting events carry."""

    uid: str
    sequence: int
    alliance_name: str
    title: str
    agenda: str
    starts_at: datetime
    timezone: str
    duration_minutes: int
    location: str
    rrule: str | None
    exceptions: tuple[Occurrence, ...] = field(default=())

    def local(self, moment: datetime) -> datetime:
        return moment.astimezone(ZoneInfo(self.timezone))


@dataclass(frozen=True)
class Change:
    """What the message is about: the whole series (``instance`` None) or one occurrence."""

    method: Method
    instance: Occurrence | None = None


def calendar(
    series: Series, change: Change, *, attendee: Contact, organizer: Contact | None, sender: str, now: datetime
) -> bytes:
    cal = icalendar.Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", change.method)
    for year in _years(series, change):
        cal.add_component(_vtimezone(series.timezone, year))
    status = "CANCELLED" if change.method == "CANCEL" else "CONFIRMED"
    if change.instance is not None:
        cal.add_component(_instance(series, change.instance, status, attendee, organizer, sender, now))
    else:
        cal.add_component(_master(series, status, attendee, organizer, sender, now))
        if change.method == "REQUEST":
            for moved in (o for o in series.exceptions if not o.cancelled):
                cal.add_component(_instance(series, moved, "CONFIRMED", attendee, organizer, sender, now))
    ical: bytes = cal.to_ical()
    return ical


def _years(series: Series, change: Change) -> list[int]:
    """Start years of the VTIMEZONEs: each covers three years around one (`emails._vtimezone`), together every
    date the calendar names."""
    moments = [series.starts_at, *(o.recurrence_id for o in series.exceptions)]
    moments += [o.starts_at for o in series.exceptions if o.starts_at is not None]
    if change.instance is not None:
        moments += [change.instance.recurrence_id, *([change.instance.starts_at] if change.instance.starts_at else [])]
    years = sorted({series.local(m).year for m in moments})
    covered: list[int] = []
    for year in years:
        if not covered or year > covered[-1] + 1:
            covered.append(year)
    return covered


def _common(event: icalendar.Event, series: Series, sequence_status: str, now: datetime) -> None:
    event.add("uid", series.uid)
    event.add("sequence", series.sequence)
    event.add("dtstamp", now)
    event.add("summary", series.title)
    event.add(
        "description", f"{series.alliance_name}: {series.title}" + (f"\n\n{series.agenda}" if series.agenda else "")
    )
    event.add("status", sequence_status)
    event.add("transp", "OPAQUE")


def _people(event: icalendar.Event, attendee: Contact, organizer: Contact | None, sender: str) -> None:
    sender_name, sender_address = parseaddr(sender)
    name, address = (organizer.name, organizer.email) if organizer else (sender_name or "Kehrwasser", sender_address)
    params = {"CN": name}
    if address != sender_address:
        params["SENT-BY"] = f"mailto:{sender_address}"  # the mail comes From our address, not the organizer's
    event.add("organizer", _address(address, **params))
    event.add(
        "attendee",
        _address(attendee.email, CN=attendee.name, ROLE="REQ-PARTICIPANT", PARTSTAT="NEEDS-ACTION", RSVP="TRUE",
                 CUTYPE="INDIVIDUAL"),
    )  # fmt: skip


def _master(
    series: Series, status: str, attendee: Contact, organizer: Contact | None, sender: str, now: datetime
) -> icalendar.Event:
    event = icalendar.Event()
    _common(event, series, status, now)
    start = series.local(series.starts_at)
    event.add("dtstart", start)
    event.add("dtend", start + timedelta(minutes=series.duration_minutes))
    if series.location:
        event.add("location", series.location)
    if series.rrule:
        event.add("rrule", icalendar.vRecur.from_ical(series.rrule))
        for cancelled in (o for o in series.exceptions if o.cancelled):
            event.add("exdate", series.local(cancelled.recurrence_id))
    _people(event, attendee, organizer, sender)
    return event


def _instance(
    series: Series,
    occurrence: Occurrence,
    status: str,
    attendee: Contact,
    organizer: Contact | None,
    sender: str,
    now: datetime,
) -> icalendar.Event:
    event = icalendar.Event()
    _common(event, series, status, now)
    event.add("recurrence-id", series.local(occurrence.recurrence_id))
    start = series.local(occurrence.starts_at or occurrence.recurrence_id)
    event.add("dtstart", start)
    event.add("dtend", start + timedelta(minutes=occurrence.duration_minutes or series.duration_minutes))
    location = occurrence.location if occurrence.location is not None else series.location
    if location:
        event.add("location", location)
    _people(event, attendee, organizer, sender)
    return event


def message(
    *,
    sender: str,
    contact: Contact,
    organizer: Contact | None,
    series: Series,
    change: Change,
    kind: str,
    context: dict[str, Any],
    message_id: str,
    now: datetime,
    templates: Templates | None = None,
    unsubscribe: Unsubscribe | None = None,
) -> EmailMessage:
    """The iMIP message of ``change`` to ``contact``; the texts from the ``kind`` templates."""
    instance = change.instance
    texts = (templates or packaged()).render(
        kind,
        contact.language,
        name=contact.name,
        alliance=series.alliance_name,
        title=series.title,
        start=(instance.starts_at or instance.recurrence_id) if instance else series.starts_at,
        original=instance.recurrence_id if instance else None,
        timezone=series.timezone,
        location=(instance.location if instance and instance.location is not None else series.location),
        duration=(instance.duration_minutes if instance and instance.duration_minutes else series.duration_minutes),
        series=series.rrule is not None,
        **context,
    )
    ics = calendar(series, change, attendee=contact, organizer=organizer, sender=sender, now=now)
    mail = _envelope(sender, contact, texts.subject, message_id, now, unsubscribe)
    mail.set_content(texts.text)
    mail.add_alternative(texts.html, subtype="html")
    mail.add_alternative(ics.decode(), subtype="calendar", params={"method": change.method})
    filename = "cancel.ics" if change.method == "CANCEL" else "invite.ics"
    mail.add_attachment(ics, maintype="application", subtype="ics", filename=filename)
    mail["Content-Language"] = header_text(contact.language, "language")
    return mail
