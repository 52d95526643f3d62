"""Contracts owned by the alliances service."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, Field

from .common import (
    Command,
    FocusTag,
    Identifier,
    Instant,
    Line,
    Name,
    Points,
    PointsSetting,
    Text,
    Timestamp,
    TimeZoneName,
)
from .registry import CommandContract, EventContract

SERVICE = "alliances"

Role = Literal["moderator", "member"]


MAX_ATTENDEES = 1000


class AllianceCreatedV1(BaseModel):
    alliance_id: Identifier
    name: Name
    purpose: Text
    focus: list[FocusTag] = Field(max_length=20)
    warning_threshold: PointsSetting = Field(description="A member whose balance falls below this is warned")
    moderator_id: Identifier
    created_at: Instant


class MemberJoinedV1(BaseModel):
    alliance_id: Identifier
    member_id: Identifier
    role: Role
    joined_at: Instant


class MeetingScheduledV1(BaseModel):
    meeting_id: Identifier
    alliance_id: Identifier
    alliance_name: Name
    title: Name
    starts_at: Instant = Field(
        description="The start, RFC 3339 with the offset `timezone` has at that time (its wall-clock time there)"
    )
    timezone: TimeZoneName
    duration_minutes: int = Field(gt=0, le=24 * 60)
    location: Line
    organizer_id: Identifier
    attendee_ids: list[Identifier] = Field(max_length=MAX_ATTENDEES)
    sequence: int = Field(
        0, ge=0, le=2**31 - 1, description="iCalendar SEQUENCE: grows with every update of the meeting"
    )


class CreateAlliance(Command):
    name: Name
    purpose: Text = ""
    focus: list[FocusTag] = Field(default_factory=list, max_length=20)
    warning_threshold: PointsSetting = Decimal("-10")
    moderator_id: Identifier


class JoinAlliance(Command):
    alliance_id: Identifier
    member_id: Identifier


class ScheduleMeeting(Command):
    alliance_id: Identifier
    requested_by: Identifier = Field(description="Must be a moderator of the alliance")
    title: Name
    starts_at: Timestamp = Field(
        description="Without offset: the wall-clock start in `timezone` (it must exist there: not inside a "
        "daylight-saving gap; of a time that occurs twice, the first). With an offset: that instant, shown in "
        "`timezone`. In the future, at most five years ahead"
    )
    timezone: TimeZoneName = "Europe/Berlin"
    duration_minutes: int = Field(default=60, gt=0, le=24 * 60)
    location: Line = Field(default="", description="Place or link")


class AllianceView(BaseModel):
    alliance_id: str
    name: str
    purpose: str
    focus: list[str]
    warning_threshold: Points
    moderator_id: str
    member_ids: list[str]


class MembershipView(BaseModel):
    alliance_id: str
    member_id: str
    role: Role


class MeetingView(BaseModel):
    meeting_id: str
    alliance_id: str
    title: str
    starts_at: Instant = Field(description="RFC 3339, with the offset `timezone` has at that time")
    timezone: str
    duration_minutes: int
    location: str
    attendee_ids: list[str]


ALLIANCE_CREATED = EventContract(
    SERVICE,
    "alliance-created",
    1,
    AllianceCreatedV1,
    "A moderator founded an alliance.",
    consumed_by=("ledger", "notify"),
)
MEMBER_JOINED = EventContract(
    SERVICE, "member-joined", 1, MemberJoinedV1, "A member joined an alliance.", consumed_by=("ledger",)
)
MEETING_SCHEDULED = EventContract(
    SERVICE,
    "meeting-scheduled",
    1,
    MeetingScheduledV1,
    "A moderator scheduled a meeting of an alliance.",
    consumed_by=("notify",),
)
CREATE = CommandContract(
    SERVICE,
    "create",
    CreateAlliance,
    AllianceView,
    "Found an alliance; the founder becomes its moderator.",
    errors=("unknown-member", "invalid-alliance"),
)
JOIN = CommandContract(
    SERVICE,
    "join",
    JoinAlliance,
    MembershipView,
    "Add a registered member to an alliance.",
    errors=("unknown-alliance", "unknown-member"),
)
SCHEDULE_MEETING = CommandContract(
    SERVICE,
    "schedule-meeting",
    ScheduleMeeting,
    MeetingView,
    "Schedule a meeting; every member is invited.",
    errors=("unknown-alliance", "not-a-moderator", "invalid-timezone", "invalid-meeting-time"),
)

EVENTS: list[EventContract[Any]] = [ALLIANCE_CREATED, MEMBER_JOINED, MEETING_SCHEDULED]
COMMANDS: list[CommandContract[Any, Any]] = [CREATE, JOIN, SCHEDULE_MEETING]
