"""Contracts owned by the alliances service."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints, model_validator

from .common import (
    IDENTIFIER,
    MULTI_LINE,
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
    "Moderators founded an alliance.",
    consumed_by=("ledger", "notify"),
)
MEMBER_JOINED = EventContract(
    SERVICE,
    "member-joined",
    1,
    MemberJoinedV1,
    "Someone became a member of an alliance (founded, approved, invitation accepted, or joined directly).",
    consumed_by=("ledger",),
)
MEETING_SCHEDULED = EventContract(
    SERVICE,
    "meeting-scheduled",
    1,
    MeetingScheduledV1,
    "A moderator scheduled a meeting of an alliance.",
    consumed_by=("notify",),
)
ALLIANCE_UPDATED = EventContract(
    SERVICE, "alliance-updated", 1, AllianceUpdatedV1, "A moderator changed an alliance's details."
)
ALLIANCE_ARCHIVED = EventContract(
    SERVICE,
    "alliance-archived",
    1,
    AllianceArchivedV1,
    "A moderator archived an alliance: no new members, contributions or meetings.",
    consumed_by=("ledger",),
)
MEMBER_INVITED = EventContract(SERVICE, "member-invited", 1, MemberInvitedV1, "A moderator invited a member.")
INVITATION_DECLINED = EventContract(
    SERVICE, "invitation-declined", 1, InvitationDeclinedV1, "An invited member declined the invitation."
)
MEMBERSHIP_REQUESTED = EventContract(
    SERVICE,
    "membership-requested",
    1,
    MembershipRequestedV1,
    "A member asked to join an alliance; carries their direction alignment.",
)
MEMBERSHIP_DECLINED = EventContract(
    SERVICE, "membership-declined", 1, MembershipDeclinedV1, "A moderator declined a request to join, with a reason."
)
MEMBER_LEFT = EventContract(
    SERVICE, "member-left", 1, MemberLeftV1, "A member left an alliance.", consumed_by=("ledger",)
)
MEMBER_REMOVED = EventContract(
    SERVICE,
    "member-removed",
    1,
    MemberRemovedV1,
    "A moderator removed a member from an alliance, with a reason.",
    consumed_by=("ledger",),
)
ROLE_CHANGED = EventContract(
    SERVICE,
    "role-changed",
    1,
    RoleChangedV1,
    "A moderator promoted a member to moderator, or demoted a moderator to member.",
    consumed_by=("ledger",),
)

_MODERATED = ("unknown-alliance", "not-a-moderator")
CREATE = CommandContract(
    SERVICE,
    "create",
    CreateAlliance,
    AllianceView,
    "Found an alliance; the founders become its moderators.",
    errors=("unknown-member", "invalid-alliance"),
)
JOIN = CommandContract(
    SERVICE,
    "join",
    JoinAlliance,
    MembershipView,
    "Deprecated (use request and approve, or invite): add a registered member at once. Idempotent.",
    errors=("unknown-alliance", "unknown-member", "alliance-archived", "alliance-full"),
)
SCHEDULE_MEETING = CommandContract(
    SERVICE,
    "schedule-meeting",
    ScheduleMeeting,
    MeetingView,
    "Schedule a meeting; every member is invited.",
    errors=(*_MODERATED, "invalid-timezone", "invalid-meeting-time", "alliance-archived"),
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
    errors=(*_MODERATED, "unknown-member", "alliance-archived", "alliance-full", "already-member", "already-pending"),
)
ACCEPT_INVITATION = CommandContract(
    SERVICE,
    "accept-invitation",
    AnswerInvitation,
    MembershipView,
    "The invited member accepts and becomes a member.",
    errors=("unknown-alliance", "nothing-pending", "alliance-archived", "alliance-full"),
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
    errors=(*_MODERATED, "nothing-pending", "alignment-too-low", "alliance-archived", "alliance-full"),
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
]
