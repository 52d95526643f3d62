"""Privacy (GDPR art. 15/20): every service answers ``export-member`` with what it holds about one member.

Each service answers for its own data only; `kehrwasser_shared.privacy.export_member` asks all four and puts the
answers into one document. The services never ask each other: a client gathering four replies is the only place
where the parts meet. Only the gateway and operators may ask (the permissions give every command to them and
none of these to the reader or the producer); the gateway must ask only for the member signed in, or for staff.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, Field, StringConstraints

from .common import Command, Identifier
from .members import MemberView
from .registry import CommandContract

ExportCursor = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$"),
    Field(description="The next_cursor of the previous answer, as given"),
]
MAX_CONTRIBUTIONS = 500
"""Contributions per answer of the ledger (NATS carries at most 1 MB): the rest follows with next_cursor."""


class ExportMember(Command):
    """Everything the answering service holds about one member, as JSON."""

    member_id: Identifier
    cursor: ExportCursor | None = Field(None, description="Only the ledger pages (its contributions)")


class MembersPart(BaseModel):
    """The members service: the profile, preferences and status, with who changed the status last and why."""

    profile: MemberView
    status_changed_by: str | None
    status_reason: str
    status_changed_at: datetime | None
    updated_at: datetime | None


class KnownAs(BaseModel):
    name: str
    focus: list[str]


class MembershipRecord(BaseModel):
    alliance_id: str
    alliance_name: str
    role: str
    status: str
    since: datetime
    decided_by: str | None
    reason: str
    message: str
    admitted_via: str | None


class AlliancesPart(BaseModel):
    """The alliances service: how it knows the member, where they stand in each alliance, and the decisions
    about others they took as a moderator (other members' memberships that name them as ``decided_by``)."""

    known_as: KnownAs | None = Field(description="None: not known to the alliances service")
    memberships: list[MembershipRecord]
    decisions: list[MembershipRecord] = Field(description="Decisions they took; member ids of others only")
    decided_about: list[str] = Field(description="The member ids in ``decisions``, in order")


class LedgerAccount(BaseModel):
    alliance_id: str
    role: str | None = Field(description="Their role in the alliance as the ledger knows it; none once gone")
    balance: Decimal
    given: Decimal
    received: Decimal
    light: str
    opened_at: datetime | None
    last_given_at: datetime | None


class LedgerContribution(BaseModel):
    contribution_id: str
    alliance_id: str
    giver_id: str
    receiver_id: str
    kind: str
    value: Decimal
    note: str
    recorded_at: datetime
    reverses: str | None


class PendingContribution(BaseModel):
    contribution_id: str
    alliance_id: str
    giver_id: str
    receiver_id: str
    kind: str
    value: Decimal
    note: str
    recorded_by: str
    status: str
    submitted_at: datetime
    decided_by: str | None
    reason: str


class LedgerPart(BaseModel):
    """The ledger: accounts, the contributions they gave or received (posted and pending), notes included."""

    accounts: list[LedgerAccount]
    contributions: list[LedgerContribution] = Field(description=f"By id, at most {MAX_CONTRIBUTIONS} per answer")
    pending: list[PendingContribution]
    next_cursor: str | None = Field(description="Ask again with it for the next contributions; none at the end")


class Contact(BaseModel):
    name: str
    email: str
    language: str


class MailRecord(BaseModel):
    delivery_id: str
    kind: str
    recipient: str
    status: str
    created_at: datetime
    sent_at: datetime | None


class NotifyPart(BaseModel):
    """The notify service: the contact it mails to and the mail it sent or queued (without the messages)."""

    contact: Contact | None = Field(description="None: not known to notify")
    mail: list[MailRecord]


EXPORT_DESCRIPTION = "Everything the {service} service holds about a member, as JSON (GDPR art. 15/20)."
MEMBERS_EXPORT = CommandContract(
    "members",
    "export-member",
    ExportMember,
    MembersPart,
    EXPORT_DESCRIPTION.format(service="members"),
    errors=("unknown-member",),
)
ALLIANCES_EXPORT = CommandContract(
    "alliances", "export-member", ExportMember, AlliancesPart, EXPORT_DESCRIPTION.format(service="alliances")
)
LEDGER_EXPORT = CommandContract(
    "ledger",
    "export-member",
    ExportMember,
    LedgerPart,
    EXPORT_DESCRIPTION.format(service="ledger") + " Contributions a page at a time.",
)
NOTIFY_EXPORT = CommandContract(
    "notify", "export-member", ExportMember, NotifyPart, EXPORT_DESCRIPTION.format(service="notify")
)

EXPORTS: tuple[CommandContract[ExportMember, Any], ...] = (
    MEMBERS_EXPORT,
    ALLIANCES_EXPORT,
    LEDGER_EXPORT,
    NOTIFY_EXPORT,
)
COMMANDS: list[CommandContract[Any, Any]] = list(EXPORTS)
