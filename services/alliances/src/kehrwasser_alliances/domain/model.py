"""Alliances: who belongs, who moderates, and when they meet."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MODERATOR = "moderator"
MEMBER = "member"


class AllianceError(Exception):
    code = "alliance-error"


class UnknownAlliance(AllianceError):
    code = "unknown-alliance"

    def __init__(self, alliance_id: str) -> None:
        super().__init__(f"no alliance with id {alliance_id}")


class UnknownMember(AllianceError):
    code = "unknown-member"

    def __init__(self, member_id: str) -> None:
        super().__init__(f"member {member_id} is not known (yet) to the alliances service")


class NotAModerator(AllianceError):
    code = "not-a-moderator"

    def __init__(self, member_id: str, alliance_id: str) -> None:
        super().__init__(f"member {member_id} is not a moderator of alliance {alliance_id}")


class InvalidTimezone(AllianceError):
    code = "invalid-timezone"

    def __init__(self, name: str) -> None:
        super().__init__(f"{name!r} is not an IANA time zone such as Europe/Berlin")


class InvalidAlliance(AllianceError):
    code = "invalid-alliance"


class InvalidMeetingTime(AllianceError):
    """A start in the past, beyond the planning horizon, or a wall-clock time the time zone skips."""

    code = "invalid-meeting-time"


MEETING_HORIZON = timedelta(days=5 * 365)
"""How far ahead a meeting may be scheduled: beyond it, a date is far more likely a typo than a plan."""


@dataclass(frozen=True)
class Membership:
    member_id: str
    role: str
    joined_at: datetime


@dataclass
class Alliance:
    alliance_id: str
    name: str
    purpose: str
    focus: tuple[str, ...]
    warning_threshold: Decimal
    founder_id: str
    created_at: datetime
    members: dict[str, Membership] = field(default_factory=dict)

    def is_moderator(self, member_id: str) -> bool:
        membership = self.members.get(member_id)
        return membership is not None and membership.role == MODERATOR

    def admit(self, member_id: str, now: datetime) -> Membership | None:
        """Add a member; None when they already belong (joining is idempotent)."""
        if member_id in self.members:
            return None
        membership = Membership(member_id=member_id, role=MEMBER, joined_at=now)
        self.members[member_id] = membership
        return membership


@dataclass(frozen=True)
class Meeting:
    meeting_id: str
    alliance_id: str
    title: str
    starts_at: datetime  # wall-clock time in `timezone`, without offset
    timezone: str
    duration_minutes: int
    location: str
    organizer_id: str
    attendee_ids: tuple[str, ...]
    sequence: int = 0


def found(
    *,
    alliance_id: str,
    name: str,
    purpose: str,
    focus: list[str],
    warning_threshold: Decimal,
    founder_id: str,
    now: datetime,
) -> Alliance:
    """A new alliance whose founder is its first moderator."""
    if not name.strip():
        raise InvalidAlliance("an alliance needs a name")
    alliance = Alliance(
        alliance_id=alliance_id,
        name=name.strip(),
        purpose=purpose.strip(),
        focus=tuple(dict.fromkeys(tag.strip().lower() for tag in focus if tag.strip())),
        warning_threshold=warning_threshold,
        founder_id=founder_id,
        created_at=now,
    )
    alliance.members[founder_id] = Membership(member_id=founder_id, role=MODERATOR, joined_at=now)
    return alliance


def check_moderator(alliance: Alliance, member_id: str) -> None:
    if not alliance.is_moderator(member_id):
        raise NotAModerator(member_id, alliance.alliance_id)


def check_timezone(name: str) -> None:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidTimezone(name) from exc


def schedule_meeting(
    alliance: Alliance,
    *,
    meeting_id: str,
    requested_by: str,
    title: str,
    starts_at: datetime,
    timezone: str,
    duration_minutes: int,
    location: str,
    now: datetime,
) -> Meeting:
    """Every current member is invited; the start is kept as wall-clock time in the meeting's time zone."""
    check_moderator(alliance, requested_by)
    check_timezone(timezone)
    wall_clock = local_start(starts_at, timezone)
    check_start(wall_clock, timezone, now)
    return Meeting(
        meeting_id=meeting_id,
        alliance_id=alliance.alliance_id,
        title=title.strip(),
        starts_at=wall_clock,
        timezone=timezone,
        duration_minutes=duration_minutes,
        location=location.strip(),
        organizer_id=requested_by,
        attendee_ids=tuple(alliance.members),
    )


def local_start(starts_at: datetime, timezone: str) -> datetime:
    """The wall-clock start in ``timezone``: a time without offset is one already; one with an offset names an
    instant, shown in the zone (so ``18:00+05:00`` keeps its meaning instead of losing its offset)."""
    if starts_at.tzinfo is None:
        return starts_at
    return starts_at.astimezone(ZoneInfo(timezone)).replace(tzinfo=None)


def instant_of(wall_clock: datetime, timezone: str) -> datetime:
    """The instant a wall-clock time in ``timezone`` stands for; of a time that occurs twice, the first."""
    return wall_clock.replace(tzinfo=ZoneInfo(timezone), fold=0)


def check_start(wall_clock: datetime, timezone: str, now: datetime) -> None:
    start = instant_of(wall_clock, timezone)
    # A time inside a daylight-saving gap does not survive the round trip through UTC (02:30 becomes 03:30).
    if start.astimezone(UTC).astimezone(start.tzinfo).replace(tzinfo=None) != wall_clock:
        raise InvalidMeetingTime(
            f"{wall_clock:%Y-%m-%d %H:%M} does not exist in {timezone}: the clocks skip it (daylight saving time)"
        )
    if start <= now:
        raise InvalidMeetingTime(f"the start {wall_clock:%Y-%m-%d %H:%M} ({timezone}) has passed")
    if start > now + MEETING_HORIZON:
        raise InvalidMeetingTime(
            f"the start {wall_clock:%Y-%m-%d %H:%M} is more than {MEETING_HORIZON.days} days ahead"
        )
