"""Contracts owned by the alliances service."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, Field

from .common import FocusTag, Identifier, Points
from .registry import CommandContract, EventContract

SERVICE = "alliances"

Role = Literal["moderator", "member"]


class AllianceCreatedV1(BaseModel):
    alliance_id: Identifier
    name: str
    purpose: str
    focus: list[FocusTag]
    warning_threshold: Points = Field(description="A member whose balance falls below this is warned")
    moderator_id: Identifier
    created_at: datetime


class MemberJoinedV1(BaseModel):
    alliance_id: Identifier
    member_id: Identifier
    role: Role
    joined_at: datetime


class MeetingScheduledV1(BaseModel):
    meeting_id: Identifier
    alliance_id: Identifier
    alliance_name: str
    title: str
    starts_at: datetime = Field(description="Wall-clock start in `timezone`, without offset")
    timezone: str = Field(description="IANA time zone name, e.g. Europe/Berlin")
    duration_minutes: int
    location: str
    organizer_id: Identifier
    attendee_ids: list[Identifier]
    sequence: int = Field(0, description="iCalendar SEQUENCE: grows with every update of the meeting")


class CreateAlliance(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    purpose: str = Field(default="", max_length=2000)
    focus: list[FocusTag] = Field(default_factory=list, max_length=20)
    warning_threshold: Points = Decimal("-10")
    moderator_id: Identifier


class JoinAlliance(BaseModel):
    alliance_id: Identifier
    member_id: Identifier


class ScheduleMeeting(BaseModel):
    alliance_id: Identifier
    requested_by: Identifier = Field(description="Must be a moderator of the alliance")
    title: str = Field(min_length=1, max_length=200)
    starts_at: datetime = Field(description="Wall-clock start in `timezone`; an offset, if given, is ignored")
    timezone: str = "Europe/Berlin"
    duration_minutes: int = Field(default=60, gt=0, le=24 * 60)
    location: str = Field(default="", max_length=500, description="Place or link")


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
    starts_at: datetime
    timezone: str
    duration_minutes: int
    location: str
    attendee_ids: list[str]


ALLIANCE_CREATED = EventContract(SERVICE, "alliance-created", 1, AllianceCreatedV1, "A moderator founded an alliance.")
MEMBER_JOINED = EventContract(SERVICE, "member-joined", 1, MemberJoinedV1, "A member joined an alliance.")
MEETING_SCHEDULED = EventContract(
    SERVICE, "meeting-scheduled", 1, MeetingScheduledV1, "A moderator scheduled a meeting of an alliance."
)
CREATE = CommandContract(
    SERVICE, "create", CreateAlliance, AllianceView, "Found an alliance; the founder becomes its moderator."
)
JOIN = CommandContract(SERVICE, "join", JoinAlliance, MembershipView, "Add a registered member to an alliance.")
SCHEDULE_MEETING = CommandContract(
    SERVICE, "schedule-meeting", ScheduleMeeting, MeetingView, "Schedule a meeting; every member is invited."
)

EVENTS: list[EventContract[Any]] = [ALLIANCE_CREATED, MEMBER_JOINED, MEETING_SCHEDULED]
COMMANDS: list[CommandContract[Any, Any]] = [CREATE, JOIN, SCHEDULE_MEETING]
