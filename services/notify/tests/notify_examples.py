"""Example data and readers shared by notify's tests: a red warning, and the calendar inside an invitation."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from email.message import EmailMessage

import icalendar

from kehrwasser_shared.contracts import ledger

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def red_warning(
    member_id: str, escalate_to: list[str] | None = None, contribution_id: str | None = None
) -> ledger.BalanceWarningV2:
    """Hamburg's red light for ``member_id`` at -7 (threshold -5), escalated to ``escalate_to``."""
    return ledger.BalanceWarningV2(
        alliance_id="hamburg",
        member_id=member_id,
        light=ledger.TrafficLight.RED,
        previous_light=ledger.TrafficLight.GREEN,
        reason=ledger.LightReason.BALANCE,
        balance=Decimal("-7"),
        threshold=Decimal("-5"),
        escalate_to=escalate_to or [],
        contribution_id=contribution_id,
        occurred_at=NOW,
    )


def calendar_event(message: EmailMessage) -> icalendar.Event:
    [part] = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
    payload = part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    [event] = icalendar.Calendar.from_ical(payload).walk("VEVENT")
    assert isinstance(event, icalendar.Event)
    return event


def start_of(event: icalendar.Event) -> datetime:
    start = event.start
    assert isinstance(start, datetime)  # a meeting starts at a time, not on a day
    return start
