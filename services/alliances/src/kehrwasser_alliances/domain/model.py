"""Alliances: who belongs, who moderates, and when they meet."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
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
    starts_at: datetime
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
) -> Meeting:
    """Every current member is invited; the start is wall-clock time in the meeting's time zone."""
    check_moderator(alliance, requested_by)
    check_timezone(timezone)
    return Meeting(
        meeting_id=meeting_id,
        alliance_id=alliance.alliance_id,
        title=title.strip(),
        starts_at=starts_at.replace(tzinfo=None),
        timezone=timezone,
        duration_minutes=duration_minutes,
        location=location.strip(),
        organizer_id=requested_by,
        attendee_ids=tuple(alliance.members),
    )
