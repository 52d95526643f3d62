"""Contracts owned by the members service."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, EmailStr, Field, StringConstraints

from .common import SINGLE_LINE, Command, FocusTag, Identifier, Instant, Language, Name, ShortLine, Text, TimeZoneName
from .registry import CommandContract, EventContract

SERVICE = "members"

DEFAULT_TIMEZONE = "Europe/Berlin"
"""The time zone of a member who has not chosen one: the network's founders meet in Germany."""

SUGGESTED_FOCUS_TAGS: tuple[str, ...] = (
    "saas",
    "ecommerce",
    "marketplace",
    "b2b",
    "b2c",
    "fintech",
    "marketing",
    "sales",
    "finance",
    "fundraising",
    "legal",
    "hr",
    "product",
    "engineering",
    "design",
    "ai",
    "data",
    "hardware",
    "manufacturing",
    "logistics",
    "sustainability",
    "health",
    "education",
    "media",
    "consulting",
    "hospitality",
    "real-estate",
    "mobility",
)
"""Focus tags a client offers first, so that founders who pull in the same direction use the same words (the
alliances service compares focus tags). Free tags are allowed beside them; every tag is stored as a lower-case
slug (``Real Estate`` becomes ``real-estate``)."""

Category = Literal["balance", "meetings", "membership", "digest"]
CATEGORIES: tuple[Category, ...] = ("balance", "meetings", "membership", "digest")
"""Mail a member may turn off, each on by default. Transactional mail (the confirmation of a new address) is no
category: it is sent because the member asked for it."""

MemberStatus = Literal["active", "suspended", "left", "erased"]
ProfileField = Literal["name", "company", "language", "timezone", "focus"]

Token = Annotated[
    str,
    StringConstraints(min_length=16, max_length=128, pattern=r"^[A-Za-z0-9_-]+$"),
    Field(description="A token from a link in a mail (unsubscribe, confirm an address): url-safe base64"),
]
MAX_PAGE = 200


def encode_cursor(name_key: str, member_id: str) -> str:
    """The opaque cursor after a member in a list's order (by name, then id)."""
    return base64.urlsafe_b64encode(json.dumps([name_key, member_id]).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, str]:
    """The position an `encode_cursor` cursor names; ValueError for anything else."""
    try:
        position = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError("not a cursor this service gave out") from error
    if not (isinstance(position, list) and len(position) == 2 and all(isinstance(part, str) for part in position)):
        raise ValueError("not a cursor this service gave out")
    return position[0], position[1]


def _check_cursor(cursor: str) -> str:
    decode_cursor(cursor)
    return cursor


Cursor = Annotated[
    str,
    StringConstraints(min_length=1, max_length=600, pattern=r"^[A-Za-z0-9_-]+$"),
    AfterValidator(_check_cursor),
    Field(description="The next_cursor of the previous page, as given"),
]


class MemberRegisteredV1(BaseModel):
    member_id: Identifier
    name: Name
    email: EmailStr
    company: ShortLine
    language: Language
    focus: list[FocusTag] = Field(max_length=20)
    registered_at: Instant


class RegisterMember(Command):
    name: Name
    email: EmailStr
    company: ShortLine = ""
    language: Language = "en"
    focus: list[FocusTag] = Field(default_factory=list, max_length=20)


class GetMember(Command):
    member_id: Identifier


class Preferences(BaseModel):
    """Which mail a member wants, per category."""

    balance: bool = True
    meetings: bool = True
    membership: bool = True
    digest: bool = True


class MemberView(BaseModel):
    member_id: str
    name: str = Field(description="The member's name; an erased member's pseudonym (erased-<hash>)")
    email: EmailStr | None = Field(description="The member's address; none once erased")
    company: str
    language: Language
    focus: list[str]
    registered_at: Instant
    timezone: str = DEFAULT_TIMEZONE
    status: MemberStatus = "active"
    preferences: Preferences = Field(default_factory=Preferences)
    pending_email: str | None = Field(None, description="A new address waiting for its confirmation")


class MemberSummary(BaseModel):
    """A member in a list: enough to show a name and reach them."""

    member_id: str
    name: str
    email: EmailStr | None = Field(description="None once erased")
    company: str
    language: Language
    timezone: str
    focus: list[str]
    status: MemberStatus


class MemberPage(BaseModel):
    members: list[MemberSummary]
    next_cursor: str | None = Field(description="Pass as cursor for the next page; none at the end")


class UpdateProfile(Command):
    """Change some of a member's profile; fields left out keep their value."""

    member_id: Identifier
    requested_by: Identifier = Field(description="The member themself")
    name: Name | None = None
    company: ShortLine | None = None
    language: Language | None = None
    timezone: TimeZoneName | None = None
    focus: list[FocusTag] | None = Field(None, max_length=20)


class SetPreferences(Command):
    """Turn categories of mail on or off; categories left out keep their setting."""

    member_id: Identifier
    requested_by: Identifier = Field(description="The member themself")
    balance: bool | None = None
    meetings: bool | None = None
    membership: bool | None = None
    digest: bool | None = None


class Unsubscribe(Command):
    """A one-click unsubscribe: the token from the mail is the authority, no one needs to be signed in."""

    token: Token
    category: Category | Literal["all"] = Field(description="One category, or all of them")


class Unsubscribed(BaseModel):
    preferences: Preferences


class RequestEmailChange(Command):
    member_id: Identifier
    requested_by: Identifier = Field(description="The member themself")
    new_email: EmailStr


class EmailChangeRequested(BaseModel):
    member_id: str
    new_email: EmailStr
    expires_at: Instant = Field(description="The token mailed to the new address is valid until then")


class ConfirmEmailChange(Command):
    """The token mailed to the new address proves that the member reads it; it is the authority."""

    token: Token


class SuspendMember(Command):
    member_id: Identifier
    requested_by: Identifier = Field(description="The operator or staff member who suspends (never the member)")
    reason: Annotated[Text, StringConstraints(min_length=1)]


class ReactivateMember(Command):
    member_id: Identifier
    requested_by: Identifier = Field(description="The operator or staff member who reactivates (never the member)")
    reason: Annotated[Text, StringConstraints(min_length=1)]


class LeaveNetwork(Command):
    member_id: Identifier
    requested_by: Identifier = Field(description="The member themself")
    reason: Text = ""


class EraseMember(Command):
    """Erase a member's personal data (GDPR art. 17): the id stays, as a pseudonym, and is never reused."""

    member_id: Identifier
    requested_by: Identifier = Field(
        description="The member themself, or the staff member who erases on their behalf (the gateway's word)"
    )


class GetMemberByEmail(Command):
    email: EmailStr


class ListMembers(Command):
    """Members in order of their names, a page at a time."""

    status: MemberStatus | None = None
    language: Language | None = None
    focus: FocusTag | None = Field(None, description="Only members with this focus tag")
    name_prefix: Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=SINGLE_LINE)] | None = Field(
        None, description="Only members whose name starts with this, ignoring case"
    )
    email_prefix: Annotated[str, StringConstraints(min_length=1, max_length=320, pattern=SINGLE_LINE)] | None = Field(
        None, description="Only members whose email starts with this, ignoring case"
    )
    limit: int = Field(50, ge=1, le=MAX_PAGE, description="Members per page")
    cursor: Cursor | None = None


class MemberProfileUpdatedV1(BaseModel):
    """The whole profile after the change, so that a consumer keeps its copy by replacing it."""

    member_id: Identifier
    name: Name
    company: ShortLine
    language: Language
    timezone: TimeZoneName
    focus: list[FocusTag] = Field(max_length=20)
    changed: list[ProfileField] = Field(max_length=5)
    updated_at: Instant


class MemberPreferencesChangedV1(BaseModel):
    """A member's mail preferences and the token of their unsubscribe links (announced at registration too)."""

    member_id: Identifier
    preferences: Preferences
    unsubscribe_token: Token
    changed_at: Instant


class MemberEmailChangeRequestedV1(BaseModel):
    """Carries the confirmation token: notify mails it to the new address. Single-use, valid until expires_at."""

    member_id: Identifier
    name: Name
    language: Language
    new_email: EmailStr
    token: Token
    expires_at: Instant
    requested_at: Instant


class MemberEmailChangedV1(BaseModel):
    member_id: Identifier
    email: EmailStr
    previous_email: EmailStr
    changed_at: Instant


class MemberSuspendedV1(BaseModel):
    member_id: Identifier
    reason: Text
    suspended_by: Identifier
    suspended_at: Instant


class MemberReactivatedV1(BaseModel):
    member_id: Identifier
    reason: Text
    reactivated_by: Identifier
    reactivated_at: Instant


class MemberLeftV1(BaseModel):
    member_id: Identifier
    reason: Text
    left_at: Instant


class MemberErasedV1(BaseModel):
    """Nothing personal: every service pseudonymises what it holds about the member, under the same id."""

    member_id: Identifier
    erased_at: Instant


MEMBER_REGISTERED = EventContract(
    SERVICE,
    "member-registered",
    1,
    MemberRegisteredV1,
    "A founder registered as a member of the network.",
    consumed_by=("alliances", "notify"),
)
# `consumed_by` names only real consumers (tests/contracts checks it against the services).
MEMBER_PROFILE_UPDATED = EventContract(
    SERVICE,
    "member-profile-updated",
    1,
    MemberProfileUpdatedV1,
    "A member changed their profile.",
    consumed_by=("alliances", "notify"),
)
MEMBER_PREFERENCES_CHANGED = EventContract(
    SERVICE,
    "member-preferences-changed",
    1,
    MemberPreferencesChangedV1,
    "A member's mail preferences, announced at registration and after every change.",
    consumed_by=("notify",),
)
MEMBER_EMAIL_CHANGE_REQUESTED = EventContract(
    SERVICE,
    "member-email-change-requested",
    1,
    MemberEmailChangeRequestedV1,
    "A member asked to change their address: mail the single-use token to the new address.",
    consumed_by=("notify",),
)
MEMBER_EMAIL_CHANGED = EventContract(
    SERVICE,
    "member-email-changed",
    1,
    MemberEmailChangedV1,
    "A member confirmed their new address.",
    consumed_by=("notify",),
)
MEMBER_SUSPENDED = EventContract(
    SERVICE,
    "member-suspended",
    1,
    MemberSuspendedV1,
    "An operator suspended a member, with a reason.",
    consumed_by=("alliances",),
)
MEMBER_REACTIVATED = EventContract(
    SERVICE,
    "member-reactivated",
    1,
    MemberReactivatedV1,
    "An operator lifted a suspension or let a member back in.",
    consumed_by=("alliances",),
)
MEMBER_LEFT = EventContract(
    SERVICE, "member-left", 1, MemberLeftV1, "A member left the network.", consumed_by=("alliances",)
)
MEMBER_ERASED = EventContract(
    SERVICE,
    "member-erased",
    1,
    MemberErasedV1,
    "A member's personal data was erased (GDPR art. 17): every service pseudonymises what it holds about them.",
    consumed_by=("alliances", "notify"),
)

SELF_SERVICE_ERRORS = ("unknown-member", "not-allowed", "invalid-status-change")

REGISTER = CommandContract(
    SERVICE,
    "register",
    RegisterMember,
    MemberView,
    "Register a member; the email must be unused.",
    errors=("email-taken", "invalid-member"),
)
GET = CommandContract(SERVICE, "get", GetMember, MemberView, "Look up a member by id.", errors=("unknown-member",))
GET_BY_EMAIL = CommandContract(
    SERVICE,
    "get-by-email",
    GetMemberByEmail,
    MemberView,
    "Look up a member by email address (ignoring case).",
    errors=("unknown-member",),
)
LIST = CommandContract(
    SERVICE,
    "list",
    ListMembers,
    MemberPage,
    "Members by name, filtered by status, language, focus tag, name or email prefix; a page at a time.",
)
UPDATE_PROFILE = CommandContract(
    SERVICE,
    "update-profile",
    UpdateProfile,
    MemberView,
    "A member changes their name, company, language, time zone or focus; a member who left cannot.",
    errors=(*SELF_SERVICE_ERRORS, "invalid-member"),
)
SET_PREFERENCES = CommandContract(
    SERVICE,
    "set-preferences",
    SetPreferences,
    MemberView,
    "A member turns categories of mail on or off; a member who left cannot.",
    errors=SELF_SERVICE_ERRORS,
)
UNSUBSCRIBE = CommandContract(
    SERVICE,
    "unsubscribe",
    Unsubscribe,
    Unsubscribed,
    "Turn off one category of mail, or all, by the token of an unsubscribe link; again changes nothing.",
    errors=("invalid-token",),
)
REQUEST_EMAIL_CHANGE = CommandContract(
    SERVICE,
    "request-email-change",
    RequestEmailChange,
    EmailChangeRequested,
    "A member asks to change their address; a token valid for 24 hours is mailed to the new one (not replied).",
    errors=(*SELF_SERVICE_ERRORS, "email-taken", "invalid-member"),
)
CONFIRM_EMAIL_CHANGE = CommandContract(
    SERVICE,
    "confirm-email-change",
    ConfirmEmailChange,
    MemberView,
    "Confirm a new address with the token mailed to it; the address must still be free.",
    errors=("invalid-token", "email-taken"),
)
SUSPEND = CommandContract(
    SERVICE,
    "suspend",
    SuspendMember,
    MemberView,
    "An operator suspends an active member, with a reason; the member cannot suspend themself.",
    errors=SELF_SERVICE_ERRORS,
)
REACTIVATE = CommandContract(
    SERVICE,
    "reactivate",
    ReactivateMember,
    MemberView,
    "An operator reactivates a suspended member or one who left, with a reason; never the member themself.",
    errors=SELF_SERVICE_ERRORS,
)
LEAVE = CommandContract(
    SERVICE,
    "leave",
    LeaveNetwork,
    MemberView,
    "A member leaves the network; their address stays reserved for them until erasure.",
    errors=SELF_SERVICE_ERRORS,
)

ERASE = CommandContract(
    SERVICE,
    "erase",
    EraseMember,
    MemberView,
    "Erase a member's personal data (name, address, company, focus, preferences, reasons); the id stays with "
    "status erased and the address is free again. Again changes nothing.",
    errors=("unknown-member",),
)

EVENTS: list[EventContract[Any]] = [
    MEMBER_REGISTERED,
    MEMBER_PROFILE_UPDATED,
    MEMBER_PREFERENCES_CHANGED,
    MEMBER_EMAIL_CHANGE_REQUESTED,
    MEMBER_EMAIL_CHANGED,
    MEMBER_SUSPENDED,
    MEMBER_REACTIVATED,
    MEMBER_LEFT,
    MEMBER_ERASED,
]
COMMANDS: list[CommandContract[Any, Any]] = [
    REGISTER,
    GET,
    GET_BY_EMAIL,
    LIST,
    UPDATE_PROFILE,
    SET_PREFERENCES,
    UNSUBSCRIBE,
    REQUEST_EMAIL_CHANGE,
    CONFIRM_EMAIL_CHANGE,
    SUSPEND,
    REACTIVATE,
    LEAVE,
    ERASE,
]
