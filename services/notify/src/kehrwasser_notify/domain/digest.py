"""The weekly digest for moderators: what notify keeps of an alliance, and what one week's digest says.

Pure: the facts come from the events notify follows (traffic lights from the ledger's warnings and recoveries,
the health figure from ``alliance-health``, open requests to join, the meetings as they stand), and the digest is
composed from them at one moment. A meeting series is expanded here with python-dateutil, on the wall clocks of
the meeting's zone (a series at 18:00 in Berlin stays at 18:00 across the change to and from summer time).
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import NamedTuple
from zoneinfo import ZoneInfo

from dateutil.rrule import rrule, rrulestr

from .calendars import Occurrence

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
LOOK_AHEAD = timedelta(days=7)
"""How far ahead the digest lists meetings."""
LIGHT_ORDER = {"red": 0, "yellow": 1}
"""The lights a digest lists, worst first (a member not listed is green)."""
_DIGESTS = uuid.UUID("6d1c6a5e-2f4b-5b8e-9a51-7e0d4c3b2a19")
"""Namespace of the digests' ids (uuid5)."""


class Week(NamedTuple):
    """An ISO week: ``2026-W49``."""

    year: int
    number: int

    @property
    def label(self) -> str:
        return f"{self.year}-W{self.number:02d}"

    @property
    def monday(self) -> date:
        return date.fromisocalendar(self.year, self.number, 1)


@dataclass(frozen=True)
class DigestSchedule:
    """When each week's digest falls due: on ``weekday`` (0 Monday … 6 Sunday) at ``hour`` o'clock in
    ``timezone``. Due from then to the end of that week, so a notify that was down at the hour sends it when it
    is back; a week missed entirely is not sent late (the next week's digest says what is current)."""

    weekday: int = 0
    hour: int = 7
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        if not (0 <= self.weekday <= 6 and 0 <= self.hour <= 23):
            raise ValueError(f"a digest falls due on a weekday 0-6 at an hour 0-23, not {self.weekday}/{self.hour}")
        try:
            ZoneInfo(self.timezone)  # an unknown zone fails here, not at the first digest
        except (ValueError, KeyError) as error:  # ZoneInfoNotFoundError is a KeyError
            raise ValueError(f"not a known time zone: {self.timezone!r}") from error

    def due_week(self, now: datetime) -> Week | None:
        """The week whose digest is due at ``now``, or None: this week's has not fallen due yet."""
        year, number, _ = now.astimezone(ZoneInfo(self.timezone)).isocalendar()
        week = Week(year, number)
        return week if now >= self.due_at(week) else None

    def due_at(self, week: Week) -> datetime:
        """The instant ``week``'s digest falls due (UTC)."""
        zone = ZoneInfo(self.timezone)
        return datetime.combine(week.monday + timedelta(days=self.weekday), time(self.hour), tzinfo=zone).astimezone(
            UTC
        )


def digest_id(alliance_id: str, week: Week) -> str:
    """The id of an alliance's digest of a week: the same in every notify instance and after a restart, so the
    inbox claims it once and each moderator's delivery (keyed by it) is queued once."""
    return str(uuid.uuid5(_DIGESTS, f"{alliance_id}:{week.label}"))


@dataclass(frozen=True)
class MemberLight:
    """A member's traffic light in an alliance as of the event that set it."""

    member_id: str
    light: str
    as_of: datetime


@dataclass(frozen=True)
class HealthFigure:
    """An alliance's latest health figure (the ledger's ``alliance-health``)."""

    period_start: datetime
    members: int
    active_givers: int
    total_given: Decimal
    gini: Decimal
    one_way_count: int
    one_way_members: tuple[str, ...]
    one_way_floor: Decimal
    computed_at: datetime


@dataclass(frozen=True)
class MembershipRequest:
    member_id: str
    requested_at: datetime


@dataclass(frozen=True)
class MeetingPlan:
    """A meeting or series as its latest event has it (a higher SEQUENCE replaces a lower one)."""

    meeting_id: str
    alliance_id: str
    sequence: int
    title: str
    starts_at: datetime
    timezone: str
    duration_minutes: int
    location: str
    rrule: str | None
    exceptions: tuple[Occurrence, ...] = field(default=())
    cancelled: bool = False


@dataclass(frozen=True)
class UpcomingOccurrence:
    meeting_id: str
    title: str
    starts_at: datetime
    timezone: str
    duration_minutes: int
    location: str
    moved_from: datetime | None = None
    """The occurrence's original start, when a moderator moved it."""


@dataclass(frozen=True)
class Person:
    member_id: str
    name: str


@dataclass(frozen=True)
class Digest:
    """One alliance's digest of one week, the same for each of its moderators."""

    alliance_name: str
    week: Week
    lights: tuple[tuple[Person, str], ...]
    """Members whose light is yellow or red, worst first, then by name."""
    health: HealthFigure | None
    one_way: tuple[Person, ...]
    """The health figure's one-way members (received, gave back less than its floor)."""
    requests: tuple[tuple[Person, datetime], ...]
    """Open requests to join, oldest first."""
    meetings: tuple[UpcomingOccurrence, ...]
    """The occurrences of the next seven days, in order."""


def compose(
    *,
    alliance_name: str,
    week: Week,
    now: datetime,
    lights: Iterable[MemberLight],
    health: HealthFigure | None,
    requests: Iterable[MembershipRequest],
    meetings: Iterable[MeetingPlan],
    names: Mapping[str, str],
) -> Digest:
    """The digest at ``now``; ``names`` by member id (a member notify has no name for shows as their id)."""

    def person(member_id: str) -> Person:
        return Person(member_id, names.get(member_id) or member_id)

    listed = [(person(light.member_id), light.light) for light in lights if light.light in LIGHT_ORDER]
    listed.sort(key=lambda item: (LIGHT_ORDER[item[1]], item[0].name.casefold(), item[0].member_id))
    waiting = sorted(requests, key=lambda request: (request.requested_at, request.member_id))
    return Digest(
        alliance_name=alliance_name,
        week=week,
        lights=tuple(listed),
        health=health,
        one_way=tuple(person(m) for m in health.one_way_members) if health else (),
        requests=tuple((person(r.member_id), r.requested_at) for r in waiting),
        meetings=tuple(upcoming(meetings, now, now + LOOK_AHEAD)),
    )


def upcoming(plans: Iterable[MeetingPlan], start: datetime, end: datetime) -> list[UpcomingOccurrence]:
    """The occurrences starting from ``start`` until before ``end``: cancelled ones left out, moved ones where
    they were moved to (also when moved into the window from outside it), in order of their start."""
    found: list[UpcomingOccurrence] = []
    for plan in plans:
        if not plan.cancelled:
            found.extend(_occurrences(plan, start, end))
    return sorted(found, key=lambda occurrence: (occurrence.starts_at, occurrence.title, occurrence.meeting_id))


def _occurrences(plan: MeetingPlan, start: datetime, end: datetime) -> Iterator[UpcomingOccurrence]:
    differs = {_instant(o.recurrence_id, plan.timezone): o for o in plan.exceptions}
    for original in _starts(plan, end):
        if original not in differs and start <= original < end:
            yield UpcomingOccurrence(
                plan.meeting_id, plan.title, original, plan.timezone, plan.duration_minutes, plan.location
            )
    for original, moved in differs.items():
        if moved.cancelled or moved.starts_at is None:
            continue
        at = _instant(moved.starts_at, plan.timezone)
        if start <= at < end:
            yield UpcomingOccurrence(
                plan.meeting_id,
                plan.title,
                at,
                plan.timezone,
                moved.duration_minutes or plan.duration_minutes,
                moved.location if moved.location is not None else plan.location,
                moved_from=original,
            )


def _starts(plan: MeetingPlan, until: datetime) -> Iterator[datetime]:
    """The plan's starts (UTC) up to ``until``: its one start, or its rule's (COUNT counted from the first)."""
    first = _instant(plan.starts_at, plan.timezone)
    if plan.rrule is None:
        yield first
        return
    zone = ZoneInfo(plan.timezone)
    try:
        parsed = rrulestr(plan.rrule.removeprefix("RRULE:"), dtstart=first.astimezone(zone))
    except (ValueError, TypeError, KeyError, IndexError, OverflowError):
        return  # the alliances service checks rules; one it let through once must not stop the digest
    if not isinstance(parsed, rrule):
        return
    count = parsed._count  # dateutil keeps COUNT and UNTIL only here
    own_until = parsed._until
    bound = until.astimezone(zone)
    # Bounded by ``until`` (COUNT on top): a rule no date satisfies ends there instead of searching to 9999.
    bounded = parsed.replace(count=None, until=bound if own_until is None else min(own_until, bound))
    starts = (moment.astimezone(UTC) for moment in bounded)
    yield from itertools.islice(starts, count) if count is not None else starts


def _instant(moment: datetime, timezone: str) -> datetime:
    """An instant in UTC; a moment without offset (older events) is the wall-clock time in ``timezone``."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(timezone))
    return moment.astimezone(UTC)
