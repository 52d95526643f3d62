"""RFC 5545 recurrence rules of meeting series, expanded by python-dateutil (a pure library: no I/O).

Times here are wall-clock times (without offset) in the series' time zone: a series at 18:00 Europe/Berlin
stays at 18:00 local across the switches to and from daylight saving time.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import datetime
from zoneinfo import ZoneInfo

from dateutil.rrule import rrule, rrulestr

FREQUENCIES = ("DAILY", "WEEKLY", "MONTHLY", "YEARLY")
"""A meeting repeats at most daily: SECONDLY, MINUTELY and HOURLY are refused, and so are BYHOUR, BYMINUTE and
BYSECOND (the time of day is the start's)."""
PARTS = frozenset(
    {
        "FREQ",
        "INTERVAL",
        "COUNT",
        "UNTIL",
        "BYDAY",
        "BYMONTHDAY",
        "BYYEARDAY",
        "BYWEEKNO",
        "BYMONTH",
        "BYSETPOS",
        "WKST",
    }
)


class RuleError(ValueError):
    """The text is not a recurrence rule a meeting may follow (the message says why)."""


def normalised(text: str) -> str:
    """The rule's value in upper case without an ``RRULE:`` prefix, its parts checked (not yet expanded)."""
    value = text.strip().upper().removeprefix("RRULE:")
    parts: dict[str, str] = {}
    for part in value.split(";"):
        name, equals, setting = part.partition("=")
        if not equals or not name or not setting:
            raise RuleError(f"{part!r} is not a NAME=VALUE part of an RRULE")
        if name not in PARTS:
            raise RuleError(f"the RRULE part {name} is not allowed for meetings (allowed: {', '.join(sorted(PARTS))})")
        if name in parts:
            raise RuleError(f"the RRULE part {name} is given twice")
        parts[name] = setting
    if parts.get("FREQ") not in FREQUENCIES:
        raise RuleError(f"FREQ must be one of {', '.join(FREQUENCIES)} (a meeting repeats at most daily)")
    if "COUNT" in parts and "UNTIL" in parts:
        raise RuleError("an RRULE has COUNT or UNTIL, not both")
    if "UNTIL" in parts and not parts["UNTIL"].endswith("Z"):
        raise RuleError("UNTIL must be a UTC time such as 20271231T230000Z (the start has a time zone)")
    return value


def ends_after(rule: str, first: datetime, timezone: str, horizon: datetime) -> bool:
    """Whether a rule with COUNT or UNTIL gives an occurrence after ``horizon`` (wall-clock)."""
    zone = ZoneInfo(timezone)
    parsed = _parse(rule, first.replace(tzinfo=zone))
    if parsed._until is not None:
        return bool(parsed._until > horizon.replace(tzinfo=zone))
    count: int | None = parsed._count
    return count is not None and sum(1 for _ in starts(rule, first, timezone, horizon)) < count


def starts(rule: str, first: datetime, timezone: str, until: datetime) -> Iterator[datetime]:
    """The (wall-clock) starts of the series from ``first`` up to and including ``until``, in order.

    The expansion is always bounded by ``until`` (COUNT applied on top), so that a rule no date satisfies
    (``BYMONTH=2;BYMONTHDAY=31``) ends at the bound instead of searching the calendar to the year 9999.
    """
    zone = ZoneInfo(timezone)
    parsed = _parse(rule, first.replace(tzinfo=zone))
    count = parsed._count  # dateutil keeps COUNT and UNTIL only here
    bound = until.replace(tzinfo=zone)
    own_until = parsed._until
    bounded = parsed.replace(count=None, until=bound if own_until is None else min(own_until, bound))
    found = (start.replace(tzinfo=None) for start in bounded)
    return itertools.islice(found, count) if count is not None else found


def _parse(rule: str, dtstart: datetime) -> rrule:
    try:
        parsed = rrulestr(rule, dtstart=dtstart)
    except (ValueError, TypeError, KeyError, IndexError, OverflowError) as exc:
        raise RuleError(f"not a valid RRULE: {exc}") from exc
    if not isinstance(parsed, rrule):
        raise RuleError("one RRULE only")
    return parsed
