"""Contracts owned by the alliances service."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints, model_validator

from .common import (
    IDENTIFIER,
    MULTI_LINE,
    Command,
    ContributionValue,
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
MembershipStatus = Literal["invited", "requested", "member", "left", "removed", "declined", "invitation-declined"]
"""Where a member stands with an alliance: only `member` belongs; the others are pending or over (the reason and
who decided are kept, so a removed member sees why)."""
AdmittedVia = Literal["founded", "joined", "approved", "invitation"]
"""How someone became a member: founding moderator, the deprecated direct `join`, an approved request, or an
accepted invitation."""

MAX_ATTENDEES = 1000
MAX_SIZE_LIMIT = 1000
"""An alliance is a small group; a meeting invites all its members at once (`MAX_ATTENDEES`)."""
DEFAULT_ALIGNMENT_THRESHOLD = 30
MAX_PAGE = 100

SizeLimit = Annotated[int, Field(ge=2, le=MAX_SIZE_LIMIT, description="Most members the alliance takes")]
AlignmentThreshold = Annotated[
    int,
    Field(
        ge=0,
        le=100,
        description="Approving a request whose direction alignment (0-100) lies below this needs an override reason",
    ),
]
Reason = Annotated[str, StringConstraints(min_length=1, max_length=2000, pattern=MULTI_LINE)]
"""A reason a decision must give (a decline, a removal, an override): not empty."""
PageLimit = Annotated[int, Field(ge=1, le=MAX_PAGE, description=f"Items per page, at most {MAX_PAGE}")]
MAX_EXCEPTIONS = 500
MAX_POINTS_TO_DISCUSS = 50
MAX_OCCURRENCES_SHOWN = 50
RecurrenceRule = Annotated[
    str,
    StringConstraints(min_length=6, max_length=500, pattern=r"^[A-Za-z0-9=;,+:-]+$"),
    Field(
        description="RFC 5545 RRULE value, e.g. `FREQ=WEEKLY;INTERVAL=2;BYDAY=TU` (an `RRULE:` prefix is "
        "allowed). FREQ DAILY, WEEKLY, MONTHLY or YEARLY; no BYHOUR, BYMINUTE, BYSECOND; UNTIL in UTC (`...Z`). "
        "Ending (COUNT, UNTIL) at most five years ahead, or without end (then occurrences are computed one year "
        "ahead at a time)"
    ),
]
MeetingUid = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@-]*$")]
SequenceNumber = Annotated[int, Field(ge=0, le=2**31 - 1)]
MeetingDuration = Annotated[int, Field(gt=0, le=24 * 60, description="Minutes")]
Cursor = Annotated[
    Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=IDENTIFIER)] | None,
    Field(description="`next_cursor` of the page before; none for the first page"),
]


class Alignment(BaseModel):
    """How well a member's focus matches an alliance's direction, and why (see README, "Direction alignment")."""

    score: int | None = Field(
        ge=0, le=100, description="0-100; none when neither the alliance nor its members declare a focus"
    )
    alliance_overlap: int = Field(ge=0, le=100, description="Jaccard overlap with the alliance's focus, 0-100")
    members_overlap: int = Field(ge=0, le=100, description="Mean Jaccard overlap with each member's focus, 0-100")
    matching: list[FocusTag] = Field(max_length=40, description="The member's tags the alliance or a member shares")
    missing: list[FocusTag] = Field(max_length=20, description="The alliance's tags the member lacks")


class AllianceCreatedV1(BaseModel):
    alliance_id: Identifier
    name: Name
    purpose: Text
    focus: list[FocusTag] = Field(max_length=20)
    warning_threshold: PointsSetting = Field(description="A member whose balance falls below this is warned")
    moderator_id: Identifier = Field(description="The first founding moderator (all of them: `moderator_ids`)")
    created_at: Instant
    moderator_ids: list[Identifier] = Field(default_factory=list, max_length=20)
    requires_confirmation: bool = Field(
        False,
        description="The ledger's policy starts with it: a giver's record waits for the receiver's confirmation. "
        "Afterwards the ledger owns it (`ledger.set-policy`)",
    )
    size_limit: SizeLimit | None = None
    alignment_threshold: AlignmentThreshold = DEFAULT_ALIGNMENT_THRESHOLD


class MemberJoinedV1(BaseModel):
    """Someone became a member; the ledger opens their account (on probation while the policy has a probation
    limit and they have not given yet)."""

    alliance_id: Identifier
    member_id: Identifier
    role: Role
    joined_at: Instant
    admitted_via: AdmittedVia = "joined"
    decided_by: Identifier | None = Field(
        None, description="Who admitted them: the approving moderator, the member accepting an invitation"
    )
    override_reason: Text | None = Field(None, description="Why a moderator approved despite low alignment")


class AllianceUpdatedV1(BaseModel):
    """The alliance as it is after the update (every field, changed or not)."""

    alliance_id: Identifier
    name: Name
    purpose: Text
    focus: list[FocusTag] = Field(max_length=20)
    warning_threshold: PointsSetting
    size_limit: SizeLimit | None
    alignment_threshold: AlignmentThreshold
    updated_by: Identifier
    updated_at: Instant


class AllianceArchivedV1(BaseModel):
    alliance_id: Identifier
    archived_by: Identifier
    reason: Text
    archived_at: Instant


class MemberInvitedV1(BaseModel):
    alliance_id: Identifier
    member_id: Identifier
    invited_by: Identifier
    message: Text
    invited_at: Instant


class InvitationDeclinedV1(BaseModel):
    alliance_id: Identifier
    member_id: Identifier
    reason: Text
    declined_at: Instant


class MembershipRequestedV1(BaseModel):
    alliance_id: Identifier
    member_id: Identifier
    message: Text
    alignment: Alignment
    requested_at: Instant
    moderator_ids: list[Identifier] = Field(
        default_factory=list,
        max_length=20,
        description="The moderators when the request was made: whom it asks (empty from older producers)",
    )


class MembershipDeclinedV1(BaseModel):
    alliance_id: Identifier
    member_id: Identifier
    decided_by: Identifier
    reason: Reason
    declined_at: Instant


class MemberLeftV1(BaseModel):
    alliance_id: Identifier
    member_id: Identifier
    role: Role = Field(description="The role they had")
    left_at: Instant


class MemberRemovedV1(BaseModel):
    alliance_id: Identifier
    member_id: Identifier
    role: Role = Field(description="The role they had")
    decided_by: Identifier
    reason: Reason = Field(description="Shown to the removed member")
    removed_at: Instant


class RoleChangedV1(BaseModel):
    alliance_id: Identifier
    member_id: Identifier
    role: Role
    previous_role: Role
    decided_by: Identifier
    changed_at: Instant


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
    # Added compatibly (optional, with defaults): a consumer of v1 that predates them reads the same meeting.
    uid: MeetingUid | None = Field(
        None,
        description="iCalendar UID, the same for the life of the meeting; absent in older events: "
        "`<meeting_id>@kehrwasser`",
    )
    agenda: Text = ""
    rrule: RecurrenceRule | None = Field(None, description="RFC 5545 RRULE value of a series; none: one-off")
    points_to_discuss: list[Line] = Field(default_factory=list, max_length=MAX_POINTS_TO_DISCUSS)


class OccurrenceException(BaseModel):
    """One occurrence of a series that differs from its rule: moved (iCalendar: an overriding VEVENT with this
    RECURRENCE-ID) or cancelled (an EXDATE, or `STATUS:CANCELLED` with this RECURRENCE-ID)."""

    recurrence_id: Instant = Field(
        description="The occurrence's original start (iCalendar RECURRENCE-ID), with the offset `timezone` has then"
    )
    cancelled: bool
    starts_at: Instant | None = Field(None, description="The moved occurrence's new start; none when cancelled")
    duration_minutes: MeetingDuration | None = None
    location: Line | None = Field(None, description="The moved occurrence's place; none: the series'")


class MeetingSeriesV1(BaseModel):
    """A meeting (one-off or series) as it stands after the change the event announces: everything an iMIP
    message (RFC 6047) needs, so that notify asks nobody."""

    meeting_id: Identifier
    uid: MeetingUid = Field(description="iCalendar UID, the same for the life of the meeting")
    sequence: SequenceNumber = Field(
        description="iCalendar SEQUENCE: grows with every change of the series or an occurrence"
    )
    alliance_id: Identifier
    alliance_name: Name
    title: Name
    agenda: Text
    starts_at: Instant = Field(
        description="The (first) start, RFC 3339 with the offset `timezone` has then (iCalendar DTSTART;TZID=...)"
    )
    timezone: TimeZoneName
    duration_minutes: MeetingDuration
    location: Line
    rrule: RecurrenceRule | None = Field(description="RFC 5545 RRULE value of a series; none: a one-off meeting")
    organizer_id: Identifier = Field(description="iCalendar ORGANIZER: the moderator who scheduled or changed it")
    attendee_ids: list[Identifier] = Field(
        max_length=MAX_ATTENDEES, description="The alliance's current members (iCalendar ATTENDEE each)"
    )
    exceptions: list[OccurrenceException] = Field(
        max_length=MAX_EXCEPTIONS, description="Occurrences moved or cancelled (iCalendar overrides and EXDATEs)"
    )
    points_to_discuss: list[Line] = Field(
        default_factory=list,
        max_length=MAX_POINTS_TO_DISCUSS,
        description="The alliance's open balance issues, for the agenda of the next occurrence",
    )


class MeetingUpdatedV1(MeetingSeriesV1):
    """A moderator changed the whole series (time, rule, title, agenda, place, duration): iMIP REQUEST to every
    attendee. When its start, time zone or rule changed, earlier exceptions are dropped (`exceptions` is then
    empty)."""

    updated_by: Identifier
    updated_at: Instant


class OccurrenceRescheduledV1(MeetingSeriesV1):
    """A moderator moved one occurrence: iMIP REQUEST of that occurrence (RECURRENCE-ID) to every attendee."""

    recurrence_id: Instant = Field(description="The occurrence's original start (iCalendar RECURRENCE-ID)")
    occurrence_starts_at: Instant = Field(description="Its new start")
    occurrence_duration_minutes: MeetingDuration
    occurrence_location: Line
    decided_by: Identifier
    decided_at: Instant


class MeetingCancelledV1(MeetingSeriesV1):
    """A moderator cancelled the whole meeting or series: iMIP CANCEL (`STATUS:CANCELLED`) to every attendee."""

    cancelled_by: Identifier
    reason: Text
    cancelled_at: Instant


class OccurrenceCancelledV1(MeetingSeriesV1):
    """A moderator cancelled one occurrence: iMIP CANCEL with its RECURRENCE-ID to every attendee."""

    recurrence_id: Instant = Field(description="The cancelled occurrence's original start (iCalendar RECURRENCE-ID)")
    cancelled_by: Identifier
    reason: Text
    cancelled_at: Instant


class MeetingAttendeeAddedV1(MeetingSeriesV1):
    """A member who joined the alliance is invited to one of its upcoming meetings: iMIP REQUEST (the series
    with its exceptions) to `member_id` only. `attendee_ids` includes them; the sequence is unchanged."""

    member_id: Identifier
    added_at: Instant


class MeetingAttendeeRemovedV1(MeetingSeriesV1):
    """A member left or was removed from the alliance: iMIP CANCEL of the meeting to `member_id` only.
    `attendee_ids` no longer includes them; the sequence is unchanged."""

    member_id: Identifier
    because: Literal["left", "removed"]
    removed_at: Instant


class AttendanceRecordedV1(BaseModel):
    """A moderator recorded who attended one occurrence (after it began); the ledger may book it."""

    meeting_id: Identifier
    uid: MeetingUid
    alliance_id: Identifier
    recurrence_id: Instant = Field(description="The occurrence's original start (for a one-off: its start)")
    attended_ids: list[Identifier] = Field(max_length=MAX_ATTENDEES)
    absent_ids: list[Identifier] = Field(max_length=MAX_ATTENDEES, description="Attendees who did not come")
    recorded_by: Identifier
    recorded_at: Instant


class CreateAlliance(Command):
    name: Name
    purpose: Text = ""
    focus: list[FocusTag] = Field(default_factory=list, max_length=20)
    warning_threshold: PointsSetting = Decimal("-10")
    moderator_id: Identifier | None = Field(None, description="A founding moderator (or several: `moderator_ids`)")
    moderator_ids: list[Identifier] = Field(default_factory=list, max_length=20)
    requires_confirmation: bool = Field(
        False, description="Contributions recorded by their giver wait for the receiver's confirmation (ledger)"
    )
    size_limit: SizeLimit | None = None
    alignment_threshold: AlignmentThreshold = DEFAULT_ALIGNMENT_THRESHOLD

    @model_validator(mode="after")
    def _has_a_moderator(self) -> CreateAlliance:
        if self.moderator_id is None and not self.moderator_ids:
            raise ValueError("an alliance needs at least one founding moderator (moderator_id or moderator_ids)")
        return self

    @property
    def founders(self) -> list[str]:
        """The founding moderators, each once, `moderator_id` first."""
        named = [self.moderator_id] if self.moderator_id is not None else []
        return list(dict.fromkeys([*named, *self.moderator_ids]))


class JoinAlliance(Command):
    """Deprecated: admits at once, without a moderator's approval (kept for existing callers)."""

    alliance_id: Identifier
    member_id: Identifier


class UpdateAlliance(Command):
    """Fields left out stay as they are."""

    alliance_id: Identifier
    requested_by: Identifier = Field(description="Must be a moderator of the alliance")
    name: Name | None = None
    purpose: Text | None = None
    focus: list[FocusTag] | None = Field(None, max_length=20)
    warning_threshold: PointsSetting | None = None
    size_limit: SizeLimit | None = None
    alignment_threshold: AlignmentThreshold | None = None


class ArchiveAlliance(Command):
    alliance_id: Identifier
    requested_by: Identifier = Field(description="Must be a moderator of the alliance")
    reason: Text = ""


class InviteMember(Command):
    alliance_id: Identifier
    requested_by: Identifier = Field(description="Must be a moderator of the alliance")
    member_id: Identifier
    message: Text = ""


class AnswerInvitation(Command):
    """The invited member accepts or declines."""

    alliance_id: Identifier
    member_id: Identifier = Field(description="The invited member, answering for themselves")
    reason: Text = Field("", description="Why not (declining only)")


class RequestMembership(Command):
    alliance_id: Identifier
    member_id: Identifier = Field(description="The member asking to join, for themselves")
    message: Text = ""


class ApproveMembership(Command):
    alliance_id: Identifier
    member_id: Identifier
    requested_by: Identifier = Field(description="Must be a moderator of the alliance")
    override_reason: Reason | None = Field(
        None, description="Required when the request's alignment lies below the alliance's threshold"
    )


class DeclineMembership(Command):
    alliance_id: Identifier
    member_id: Identifier
    requested_by: Identifier = Field(description="Must be a moderator of the alliance")
    reason: Reason


class LeaveAlliance(Command):
    alliance_id: Identifier
    member_id: Identifier = Field(description="The member leaving, for themselves")


class RemoveMember(Command):
    alliance_id: Identifier
    member_id: Identifier
    requested_by: Identifier = Field(description="Must be a moderator of the alliance")
    reason: Reason = Field(description="Shown to the removed member")


class ChangeRole(Command):
    alliance_id: Identifier
    member_id: Identifier
    requested_by: Identifier = Field(description="Must be a moderator of the alliance")


class GetAlliance(Command):
    alliance_id: Identifier


class ListAlliances(Command):
    member_id: Identifier | None = Field(None, description='Only alliances this member belongs to ("mine")')
    focus: FocusTag | None = Field(None, description="Only alliances with this focus tag")
    include_archived: bool = False
    limit: PageLimit = 20
    cursor: Cursor = None


class ListMemberships(Command):
    member_id: Identifier
    limit: PageLimit = 20
    cursor: Cursor = None


class PendingRequests(Command):
    alliance_id: Identifier
    requested_by: Identifier = Field(description="Must be a moderator of the alliance")
    limit: PageLimit = 20
    cursor: Cursor = None


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
    agenda: Text = ""
    rrule: RecurrenceRule | None = Field(
        None, description="Repeat by this rule (the start must be its first occurrence); none: a one-off meeting"
    )


OccurrenceTime = Annotated[
    Timestamp,
    Field(
        description="An occurrence's original start (RECURRENCE-ID): without offset the wall-clock time in the "
        "meeting's time zone, with an offset that instant"
    ),
]


class UpdateMeeting(Command):
    """Change the whole series; fields left out stay as they are."""

    meeting_id: Identifier
    requested_by: Identifier = Field(description="Must be a moderator of the alliance")
    title: Name | None = None
    agenda: Text | None = None
    starts_at: Timestamp | None = Field(None, description="As in `schedule-meeting`")
    timezone: TimeZoneName | None = None
    duration_minutes: MeetingDuration | None = None
    location: Line | None = None
    rrule: RecurrenceRule | Literal[""] | None = Field(None, description='A new rule; "" ends the repetition')


class RescheduleOccurrence(Command):
    meeting_id: Identifier
    requested_by: Identifier = Field(description="Must be a moderator of the alliance")
    recurrence_id: OccurrenceTime
    starts_at: Timestamp | None = Field(None, description="Its new start, as in `schedule-meeting`")
    location: Line | None = None
    duration_minutes: MeetingDuration | None = None


class CancelMeeting(Command):
    meeting_id: Identifier
    requested_by: Identifier = Field(description="Must be a moderator of the alliance")
    reason: Text = ""


class CancelOccurrence(Command):
    meeting_id: Identifier
    requested_by: Identifier = Field(description="Must be a moderator of the alliance")
    recurrence_id: OccurrenceTime
    reason: Text = ""


class RecordAttendance(Command):
    meeting_id: Identifier
    requested_by: Identifier = Field(description="Must be a moderator of the alliance")
    recurrence_id: OccurrenceTime | None = Field(None, description="Which occurrence; none: a one-off's only one")
    attended: list[Identifier] = Field(max_length=MAX_ATTENDEES, description="The attendees who came")


class ListMeetings(Command):
    alliance_id: Identifier
    occurrences: int = Field(3, ge=1, le=MAX_OCCURRENCES_SHOWN, description="Next occurrences shown per meeting")
    include_cancelled: bool = False
    limit: PageLimit = 20
    cursor: Cursor = None


class GetMeeting(Command):
    meeting_id: Identifier
    occurrences: int = Field(10, ge=1, le=MAX_OCCURRENCES_SHOWN, description="Next occurrences shown")


class AllianceView(BaseModel):
    alliance_id: str
    name: str
    purpose: str
    focus: list[str]
    warning_threshold: Points
    moderator_id: str = Field(description="The first founding moderator")
    member_ids: list[str]
    moderator_ids: list[str] = Field(default_factory=list, description="Its moderators now")
    requires_confirmation: bool = False
    size_limit: int | None = None
    alignment_threshold: int = DEFAULT_ALIGNMENT_THRESHOLD
    archived: bool = False


class MembershipView(BaseModel):
    alliance_id: str
    member_id: str
    role: Role
    status: MembershipStatus = "member"
    since: Instant | None = Field(None, description="When the current status began (a member: when they joined)")
    decided_by: str | None = Field(None, description="Who took the last decision (invited, approved, removed...)")
    reason: str = Field("", description="The reason given with it (a decline, a removal, an override)")


class MemberStanding(BaseModel):
    member_id: str
    name: str
    role: Role
    joined_at: Instant
    alignment: Alignment = Field(description="Their focus against the alliance's and the other members' now")


class AllianceDetails(BaseModel):
    alliance: AllianceView
    members: list[MemberStanding]


class AlliancePage(BaseModel):
    items: list[AllianceView]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; none after the last")


class MembershipPage(BaseModel):
    items: list[MembershipView]
    next_cursor: str | None


class PendingRequestView(BaseModel):
    member_id: str
    name: str
    message: str
    requested_at: Instant
    alignment: Alignment = Field(description="Recomputed now: the member's focus against the alliance's")
    needs_override: bool = Field(description="Approving needs an override_reason (alignment below the threshold)")


class PendingRequestPage(BaseModel):
    items: list[PendingRequestView]
    next_cursor: str | None


class OccurrenceView(BaseModel):
    recurrence_id: Instant = Field(description="Its original start, which identifies it")
    starts_at: Instant
    ends_at: Instant
    location: str
    status: Literal["scheduled", "rescheduled", "cancelled"]


class MeetingView(BaseModel):
    meeting_id: str
    alliance_id: str
    title: str
    starts_at: Instant = Field(description="RFC 3339, with the offset `timezone` has at that time")
    timezone: str
    duration_minutes: int
    location: str
    attendee_ids: list[str]
    uid: str = ""
    sequence: int = 0
    agenda: str = ""
    rrule: str | None = None
    organizer_id: str = ""
    status: Literal["scheduled", "cancelled"] = "scheduled"
    next_occurrences: list[OccurrenceView] = Field(
        default_factory=list, description="The next occurrences from now (cancelled ones included, marked)"
    )
    points_to_discuss: list[PointToDiscuss] = Field(
        default_factory=list,
        max_length=MAX_POINTS_TO_DISCUSS,
        description="A meeting still to come: the alliance's open balance issues, for the agenda of its next "
        "occurrence",
    )


class AttendanceView(BaseModel):
    recurrence_id: Instant
    attended_ids: list[str]
    absent_ids: list[str]
    recorded_by: str
    recorded_at: Instant


class PointToDiscuss(BaseModel):
    """An open balance issue of the alliance, from the ledger's events."""

    member_id: str
    issue: Literal["yellow", "red", "one-way-flow"]
    text: str
    since: Instant


class MeetingDetails(BaseModel):
    meeting: MeetingView
    exceptions: list[OccurrenceException]
    attendance: list[AttendanceView]
    points_to_discuss: list[PointToDiscuss] = Field(
        description="For the agenda of the next occurrence: members at yellow or red, one-way flows"
    )


class MeetingPage(BaseModel):
    items: list[MeetingView]
    next_cursor: str | None


# --- What the network already knows of each member: points to discuss, "needs a word" ------------------------

Light = Literal["green", "yellow", "red"]


class NeedsAWord(Command):
    alliance_id: Identifier
    requested_by: Identifier = Field(description="Must be a moderator of the alliance")
    limit: PageLimit = 20
    cursor: Cursor = None


class MemberSignals(BaseModel):
    """One member's signals, with the reasons (in words) that put them on the "needs a word" list."""

    member_id: str
    name: str
    concern: int = Field(description='The sum of the weights of the reasons (README, "Needs a word")')
    reasons: list[str] = Field(description="Why, in words, most weighty first")
    light: Light = Field(description="From the ledger's last light event about them; green when none came")
    balance: Points | None = Field(description="Their balance when their light last changed; none: never changed")
    one_way_flow: bool = Field(description="The ledger's last alliance-health event lists them as a one-way flow")
    alignment: int | None = Field(description="Direction alignment 0-100 now; none when nothing is declared")
    meetings_recorded: int = Field(description="Occurrences with recorded attendance they were invited to")
    meetings_attended: int


class NeedsAWordPage(BaseModel):
    items: list[MemberSignals] = Field(description="Members with at least one reason, most concern first")
    next_cursor: str | None


# --- Shared resources -----------------------------------------------------------------------------------------

ResourceKind = Literal["domain", "analysis", "knowledge", "network", "tool"]
Link = Annotated[str, StringConstraints(max_length=500, pattern=r"^(https?://\S+)?$")]


class AddResource(Command):
    alliance_id: Identifier
    owner_id: Identifier = Field(description="The member who shares it (and asks)")
    kind: ResourceKind
    title: Name
    description: Text = ""
    link: Link = Field("", description="http(s) address, or empty")
    value: ContributionValue | None = Field(
        None,
        description="Book sharing it as a contribution of this value to the alliance (kind resource); none: not "
        "booked. In an alliance that requires confirmation it waits for a moderator's",
    )


class UpdateResource(Command):
    """Fields left out keep their value."""

    resource_id: Identifier
    requested_by: Identifier = Field(description="The owner or a moderator")
    kind: ResourceKind | None = None
    title: Name | None = None
    description: Text | None = None
    link: Link | None = None


class RemoveResource(Command):
    resource_id: Identifier
    requested_by: Identifier = Field(description="The owner or a moderator")
    reason: Text = ""


class RecordResourceUse(Command):
    resource_id: Identifier
    used_by: Identifier = Field(description="A member of the alliance other than the owner (and who asks)")
    use_id: Identifier | None = Field(
        None,
        description="Your id for this use: sent again (a retry), it is recorded and booked once; with other fields "
        "it is answered `conflict`. None: the service picks one (a retry then records a second use)",
    )
    note: Text = ""
    value: ContributionValue | None = Field(
        None,
        description="Book the use as a thank-you of this value from the owner to the user (kind resource); none: "
        "not booked",
    )


class ListResources(Command):
    alliance_id: Identifier
    kind: ResourceKind | None = None
    limit: PageLimit = 20
    cursor: Cursor = None


class ResourceView(BaseModel):
    resource_id: str
    alliance_id: str
    kind: ResourceKind
    title: str
    description: str
    link: str
    owner_id: str
    added_at: Instant
    uses: int = Field(description="Recorded uses by other members")
    removed: bool = False


class ResourceUseView(BaseModel):
    use_id: str
    resource_id: str
    used_by: str
    note: str
    used_at: Instant


class ResourcePage(BaseModel):
    items: list[ResourceView]
    next_cursor: str | None


class ResourceSharedV1(BaseModel):
    """A member added a resource to the alliance's catalogue; with a value the ledger books it (giver the owner,
    receiver the alliance, kind resource, contribution id derived from the resource id)."""

    resource_id: Identifier
    alliance_id: Identifier
    owner_id: Identifier
    kind: ResourceKind
    title: Name
    link: Link
    value: ContributionValue | None
    shared_at: Instant


class ResourceUsedV1(BaseModel):
    """Another member used a resource; with a value the ledger books it as the user's thank-you (giver the owner,
    receiver the user, kind resource, contribution id derived from the use id)."""

    use_id: Identifier
    resource_id: Identifier
    alliance_id: Identifier
    owner_id: Identifier
    used_by: Identifier
    note: Text
    value: ContributionValue | None
    used_at: Instant


class ResourceChangedV1(BaseModel):
    """The owner or a moderator changed or removed a resource."""

    resource_id: Identifier
    alliance_id: Identifier
    kind: ResourceKind
    title: Name
    description: Text
    link: Link
    changed_by: Identifier
    removed: bool
    reason: Text = ""
    changed_at: Instant


ALLIANCE_CREATED = EventContract(
    SERVICE,
    "alliance-created",
    1,
    AllianceCreatedV1,
    "Moderators founded an alliance.",
    consumed_by=("ledger", "notify"),
)
MEMBER_JOINED = EventContract(
    SERVICE,
    "member-joined",
    1,
    MemberJoinedV1,
    "Someone became a member of an alliance (founded, approved, invitation accepted, or joined directly).",
    consumed_by=("ledger", "notify"),
)
MEETING_SCHEDULED = EventContract(
    SERVICE,
    "meeting-scheduled",
    1,
    MeetingScheduledV1,
    "A moderator scheduled a meeting of an alliance.",
    consumed_by=("notify",),
)
MEETING_UPDATED = EventContract(
    SERVICE,
    "meeting-updated",
    1,
    MeetingUpdatedV1,
    "A moderator changed a meeting or its whole series.",
    consumed_by=("notify",),
)
OCCURRENCE_RESCHEDULED = EventContract(
    SERVICE,
    "occurrence-rescheduled",
    1,
    OccurrenceRescheduledV1,
    "A moderator moved one occurrence of a series (new start, place or duration).",
    consumed_by=("notify",),
)
MEETING_CANCELLED = EventContract(
    SERVICE,
    "meeting-cancelled",
    1,
    MeetingCancelledV1,
    "A moderator cancelled a meeting or its whole series.",
    consumed_by=("notify",),
)
OCCURRENCE_CANCELLED = EventContract(
    SERVICE,
    "occurrence-cancelled",
    1,
    OccurrenceCancelledV1,
    "A moderator cancelled one occurrence of a series.",
    consumed_by=("notify",),
)
MEETING_ATTENDEE_ADDED = EventContract(
    SERVICE,
    "meeting-attendee-added",
    1,
    MeetingAttendeeAddedV1,
    "A new member of the alliance is invited to one of its upcoming meetings.",
    consumed_by=("notify",),
)
MEETING_ATTENDEE_REMOVED = EventContract(
    SERVICE,
    "meeting-attendee-removed",
    1,
    MeetingAttendeeRemovedV1,
    "A member who left or was removed is taken off one of the alliance's upcoming meetings.",
    consumed_by=("notify",),
)
ATTENDANCE_RECORDED = EventContract(
    SERVICE,
    "attendance-recorded",
    1,
    AttendanceRecordedV1,
    "A moderator recorded who attended an occurrence of a meeting; the ledger books it when the alliance's "
    "policy says so (book_attendance).",
    consumed_by=("ledger",),
)
ALLIANCE_UPDATED = EventContract(
    SERVICE, "alliance-updated", 1, AllianceUpdatedV1, "A moderator changed an alliance's details."
)
ALLIANCE_ARCHIVED = EventContract(
    SERVICE,
    "alliance-archived",
    1,
    AllianceArchivedV1,
    "A moderator archived an alliance, or its last member left the network (then `archived_by` is they): no new "
    "members, contributions or meetings.",
    consumed_by=("ledger", "notify"),
)
MEMBER_INVITED = EventContract(
    SERVICE, "member-invited", 1, MemberInvitedV1, "A moderator invited a member.", consumed_by=("notify",)
)
INVITATION_DECLINED = EventContract(
    SERVICE, "invitation-declined", 1, InvitationDeclinedV1, "An invited member declined the invitation."
)
MEMBERSHIP_REQUESTED = EventContract(
    SERVICE,
    "membership-requested",
    1,
    MembershipRequestedV1,
    "A member asked to join an alliance; carries their direction alignment.",
    consumed_by=("notify",),
)
MEMBERSHIP_DECLINED = EventContract(
    SERVICE,
    "membership-declined",
    1,
    MembershipDeclinedV1,
    "A moderator declined a request to join, with a reason.",
    consumed_by=("notify",),
)
MEMBER_LEFT = EventContract(
    SERVICE, "member-left", 1, MemberLeftV1, "A member left an alliance.", consumed_by=("ledger", "notify")
)
MEMBER_REMOVED = EventContract(
    SERVICE,
    "member-removed",
    1,
    MemberRemovedV1,
    "A moderator removed a member from an alliance, with a reason.",
    consumed_by=("ledger", "notify"),
)
ROLE_CHANGED = EventContract(
    SERVICE,
    "role-changed",
    1,
    RoleChangedV1,
    "A moderator promoted a member to moderator, or demoted a moderator to member.",
    consumed_by=("ledger", "notify"),
)

_MODERATED = ("unknown-alliance", "not-a-moderator")
CREATE = CommandContract(
    SERVICE,
    "create",
    CreateAlliance,
    AllianceView,
    "Found an alliance; the founders become its moderators.",
    errors=("unknown-member", "member-not-active", "invalid-alliance"),
)
JOIN = CommandContract(
    SERVICE,
    "join",
    JoinAlliance,
    MembershipView,
    "Deprecated (use request and approve, or invite): add a registered member at once. Idempotent.",
    errors=("unknown-alliance", "unknown-member", "member-not-active", "alliance-archived", "alliance-full"),
)
SCHEDULE_MEETING = CommandContract(
    SERVICE,
    "schedule-meeting",
    ScheduleMeeting,
    MeetingView,
    "Schedule a one-off meeting or a series (RRULE); every member is invited.",
    errors=(*_MODERATED, "invalid-timezone", "invalid-meeting-time", "invalid-recurrence", "alliance-archived"),
)
_MEETING = ("unknown-meeting", "not-a-moderator")
UPDATE_MEETING = CommandContract(
    SERVICE,
    "update-meeting",
    UpdateMeeting,
    MeetingView,
    "Change a meeting or its whole series (time, rule, title, agenda, place, duration); attendees get an update.",
    errors=(*_MEETING, "meeting-cancelled", "invalid-meeting-time", "invalid-recurrence", "alliance-archived"),
)
RESCHEDULE_OCCURRENCE = CommandContract(
    SERVICE,
    "reschedule-occurrence",
    RescheduleOccurrence,
    MeetingView,
    "Move one occurrence (named by its original start) to a new start or place.",
    errors=(*_MEETING, "meeting-cancelled", "unknown-occurrence", "invalid-meeting-time", "alliance-archived"),
)
CANCEL_MEETING = CommandContract(
    SERVICE,
    "cancel-meeting",
    CancelMeeting,
    MeetingView,
    "Cancel a meeting or its whole series; attendees get a cancellation. Idempotent.",
    errors=_MEETING,
)
CANCEL_OCCURRENCE = CommandContract(
    SERVICE,
    "cancel-occurrence",
    CancelOccurrence,
    MeetingView,
    "Cancel one occurrence (named by its original start). Idempotent.",
    errors=(*_MEETING, "meeting-cancelled", "unknown-occurrence", "invalid-meeting-time"),
)
RECORD_ATTENDANCE = CommandContract(
    SERVICE,
    "record-attendance",
    RecordAttendance,
    AttendanceView,
    "After an occurrence began: who attended (the others invited were absent). Recorded again, it replaces.",
    errors=(*_MEETING, "unknown-occurrence", "invalid-attendance"),
)
MEETINGS = CommandContract(
    SERVICE,
    "meetings",
    ListMeetings,
    MeetingPage,
    "An alliance's meetings with their next occurrences, a page at a time.",
    errors=("unknown-alliance",),
)
MEETING = CommandContract(
    SERVICE,
    "meeting",
    GetMeeting,
    MeetingDetails,
    "One meeting with its next occurrences, exceptions, attendance and the points to discuss.",
    errors=("unknown-meeting",),
)
UPDATE = CommandContract(
    SERVICE,
    "update",
    UpdateAlliance,
    AllianceView,
    "Change an alliance's name, purpose, focus, warning threshold, size limit or alignment threshold.",
    errors=(*_MODERATED, "invalid-alliance", "alliance-archived"),
)
ARCHIVE = CommandContract(
    SERVICE,
    "archive",
    ArchiveAlliance,
    AllianceView,
    "Archive an alliance: no new members, contributions or meetings. Idempotent.",
    errors=_MODERATED,
)
INVITE = CommandContract(
    SERVICE,
    "invite",
    InviteMember,
    MembershipView,
    "A moderator invites a registered member; they accept or decline.",
    errors=(
        *_MODERATED,
        "unknown-member",
        "member-not-active",
        "alliance-archived",
        "alliance-full",
        "already-member",
        "already-pending",
    ),
)
ACCEPT_INVITATION = CommandContract(
    SERVICE,
    "accept-invitation",
    AnswerInvitation,
    MembershipView,
    "The invited member accepts and becomes a member.",
    errors=("unknown-alliance", "nothing-pending", "member-not-active", "alliance-archived", "alliance-full"),
)
DECLINE_INVITATION = CommandContract(
    SERVICE,
    "decline-invitation",
    AnswerInvitation,
    MembershipView,
    "The invited member declines.",
    errors=("unknown-alliance", "nothing-pending"),
)
REQUEST = CommandContract(
    SERVICE,
    "request",
    RequestMembership,
    MembershipView,
    "A member asks to join; the moderators see the request with its direction alignment.",
    errors=(
        "unknown-alliance",
        "unknown-member",
        "member-not-active",
        "alliance-archived",
        "alliance-full",
        "already-member",
        "already-pending",
    ),
)
APPROVE = CommandContract(
    SERVICE,
    "approve",
    ApproveMembership,
    MembershipView,
    "A moderator approves a request to join; below the alignment threshold only with an override reason.",
    errors=(
        *_MODERATED,
        "nothing-pending",
        "member-not-active",
        "alignment-too-low",
        "alliance-archived",
        "alliance-full",
    ),
)
DECLINE = CommandContract(
    SERVICE,
    "decline",
    DeclineMembership,
    MembershipView,
    "A moderator declines a request to join, with a reason.",
    errors=(*_MODERATED, "nothing-pending"),
)
LEAVE = CommandContract(
    SERVICE,
    "leave",
    LeaveAlliance,
    MembershipView,
    "A member leaves; the last moderator cannot.",
    errors=("unknown-alliance", "not-a-member", "last-moderator"),
)
REMOVE = CommandContract(
    SERVICE,
    "remove",
    RemoveMember,
    MembershipView,
    "A moderator removes a member, with a reason the member sees.",
    errors=(*_MODERATED, "not-a-member", "last-moderator"),
)
PROMOTE = CommandContract(
    SERVICE,
    "promote",
    ChangeRole,
    MembershipView,
    "A moderator makes a member a moderator. Idempotent.",
    errors=(*_MODERATED, "not-a-member"),
)
DEMOTE = CommandContract(
    SERVICE,
    "demote",
    ChangeRole,
    MembershipView,
    "A moderator makes a moderator a plain member; the last moderator stays. Idempotent.",
    errors=(*_MODERATED, "not-a-member", "last-moderator"),
)
GET = CommandContract(
    SERVICE,
    "get",
    GetAlliance,
    AllianceDetails,
    "An alliance with its members, their roles and their direction alignment.",
    errors=("unknown-alliance",),
)
LIST = CommandContract(
    SERVICE,
    "list",
    ListAlliances,
    AlliancePage,
    'Alliances by id, a page at a time: a member\'s ("mine"), by focus tag, archived ones on request.',
)
MEMBERSHIPS = CommandContract(
    SERVICE,
    "memberships",
    ListMemberships,
    MembershipPage,
    "Where a member stands with each alliance (pending, member, left, removed with the reason), a page at a time.",
)
PENDING_REQUESTS = CommandContract(
    SERVICE,
    "pending-requests",
    PendingRequests,
    PendingRequestPage,
    "Requests to join waiting for a moderator, oldest first, each with its direction alignment.",
    errors=_MODERATED,
)

RESOURCE_SHARED = EventContract(
    SERVICE,
    "resource-shared",
    1,
    ResourceSharedV1,
    "A member shared a resource with the alliance; the ledger books it when it carries a value.",
    consumed_by=("ledger",),
)
RESOURCE_USED = EventContract(
    SERVICE,
    "resource-used",
    1,
    ResourceUsedV1,
    "A member used another's resource; the ledger books it (a thank-you) when it carries a value.",
    consumed_by=("ledger",),
)
RESOURCE_CHANGED = EventContract(
    SERVICE, "resource-changed", 1, ResourceChangedV1, "The owner or a moderator changed or removed a resource."
)
NEEDS_A_WORD = CommandContract(
    SERVICE,
    "needs-a-word",
    NeedsAWord,
    NeedsAWordPage,
    "For moderators: members whose signals (light and balance, one-way flow, alignment, attendance) call for a "
    "word, most concern first, each with the reasons.",
    errors=_MODERATED,
)
_RESOURCE = ("unknown-resource", "not-allowed")
ADD_RESOURCE = CommandContract(
    SERVICE,
    "add-resource",
    AddResource,
    ResourceView,
    "A member shares a resource (domain, analysis, knowledge, network, tool) with the alliance.",
    errors=("unknown-alliance", "not-a-member", "alliance-archived"),
)
UPDATE_RESOURCE = CommandContract(
    SERVICE,
    "update-resource",
    UpdateResource,
    ResourceView,
    "The owner or a moderator changes a resource.",
    errors=_RESOURCE,
)
REMOVE_RESOURCE = CommandContract(
    SERVICE,
    "remove-resource",
    RemoveResource,
    ResourceView,
    "The owner or a moderator removes a resource from the catalogue. Idempotent.",
    errors=_RESOURCE,
)
RECORD_RESOURCE_USE = CommandContract(
    SERVICE,
    "record-resource-use",
    RecordResourceUse,
    ResourceUseView,
    "A member records that they used another member's resource.",
    errors=("unknown-resource", "not-a-member", "invalid-resource-use", "conflict"),
)
RESOURCES = CommandContract(
    SERVICE,
    "resources",
    ListResources,
    ResourcePage,
    "An alliance's catalogue of shared resources, a page at a time, optionally of one kind.",
    errors=("unknown-alliance",),
)

EVENTS: list[EventContract[Any]] = [
    ALLIANCE_CREATED,
    MEMBER_JOINED,
    MEETING_SCHEDULED,
    ALLIANCE_UPDATED,
    ALLIANCE_ARCHIVED,
    MEMBER_INVITED,
    INVITATION_DECLINED,
    MEMBERSHIP_REQUESTED,
    MEMBERSHIP_DECLINED,
    MEMBER_LEFT,
    MEMBER_REMOVED,
    ROLE_CHANGED,
    MEETING_UPDATED,
    OCCURRENCE_RESCHEDULED,
    MEETING_CANCELLED,
    OCCURRENCE_CANCELLED,
    MEETING_ATTENDEE_ADDED,
    MEETING_ATTENDEE_REMOVED,
    ATTENDANCE_RECORDED,
    RESOURCE_SHARED,
    RESOURCE_USED,
    RESOURCE_CHANGED,
]
COMMANDS: list[CommandContract[Any, Any]] = [
    CREATE,
    JOIN,
    SCHEDULE_MEETING,
    UPDATE,
    ARCHIVE,
    INVITE,
    ACCEPT_INVITATION,
    DECLINE_INVITATION,
    REQUEST,
    APPROVE,
    DECLINE,
    LEAVE,
    REMOVE,
    PROMOTE,
    DEMOTE,
    GET,
    LIST,
    MEMBERSHIPS,
    PENDING_REQUESTS,
    UPDATE_MEETING,
    RESCHEDULE_OCCURRENCE,
    CANCEL_MEETING,
    CANCEL_OCCURRENCE,
    RECORD_ATTENDANCE,
    MEETINGS,
    MEETING,
    NEEDS_A_WORD,
    ADD_RESOURCE,
    UPDATE_RESOURCE,
    REMOVE_RESOURCE,
    RECORD_RESOURCE_USE,
    RESOURCES,
]
