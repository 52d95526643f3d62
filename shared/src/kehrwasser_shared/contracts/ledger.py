"""Contracts owned by the ledger service."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, Field

from .common import Identifier, Points
from .registry import CommandContract, EventContract

SERVICE = "ledger"

ALLIANCE_ACCOUNT = "alliance"
"""Receiver id that stands for the alliance itself (a talk for all, a shared domain, a hosted meeting)."""


class ContributionKind(StrEnum):
    ADVICE = "advice"
    INTRODUCTION = "introduction"
    REFERRAL = "referral"
    RESOURCE = "resource"
    KNOWLEDGE = "knowledge"
    HOSTING = "hosting"
    ATTENDANCE = "attendance"


class ContributionRecordedV1(BaseModel):
    contribution_id: Identifier
    alliance_id: Identifier
    giver_id: Identifier
    receiver_id: Identifier
    kind: ContributionKind
    value: Points
    note: str
    recorded_at: datetime
    giver_balance: Points
    receiver_balance: Points
    reverses: str | None = Field(None, description="The contribution this entry corrects, for a reversal")


class BalanceWarningV1(BaseModel):
    alliance_id: Identifier
    member_id: Identifier
    balance: Points
    threshold: Points
    contribution_id: Identifier = Field(description="The contribution that took the balance below the threshold")
    occurred_at: datetime


class BalanceRecoveredV1(BaseModel):
    alliance_id: Identifier
    member_id: Identifier
    balance: Points
    threshold: Points
    contribution_id: Identifier
    occurred_at: datetime


class RecordContribution(BaseModel):
    contribution_id: Identifier = Field(
        description="Chosen by the caller; a retry with the same id and fields returns the original result"
    )
    alliance_id: Identifier
    giver_id: Identifier
    receiver_id: Identifier = Field(description=f"A member id, or '{ALLIANCE_ACCOUNT}' for the alliance itself")
    kind: ContributionKind
    value: Points = Field(gt=0)
    note: str = Field(default="", max_length=2000)


class ContributionRejectedV1(BaseModel):
    contribution_id: Identifier
    alliance_id: Identifier
    code: str = Field(description="Why: conflict, not-a-member, unknown-alliance, invalid-contribution, ...")
    message: str
    occurred_at: datetime


class ReverseContribution(BaseModel):
    reversal_id: Identifier = Field(description="Chosen by the caller, like a contribution id")
    contribution_id: Identifier = Field(description="The contribution to correct")
    requested_by: Identifier = Field(description="A moderator of the alliance, or the original giver")
    reason: str = Field(default="", max_length=2000)


class VerifyLedger(BaseModel):
    alliance_id: Identifier | None = Field(None, description="One alliance, or all when omitted")


class LedgerVerification(BaseModel):
    ok: bool
    alliances_checked: int
    contributions_checked: int
    entries_checked: int
    problems: list[str]


class ContributionResult(BaseModel):
    status: Literal["created", "exists"]
    contribution_id: str
    alliance_id: str
    giver_id: str
    receiver_id: str
    kind: ContributionKind
    value: Points
    note: str
    recorded_at: datetime
    giver_balance: Points
    receiver_balance: Points
    reverses: str | None = Field(None, description="The contribution this entry corrects, for a reversal")


class QueryBalance(BaseModel):
    alliance_id: Identifier
    member_id: Identifier


class BalanceView(BaseModel):
    alliance_id: str
    member_id: str
    balance: Points
    given: Points
    received: Points
    threshold: Points
    below_threshold: bool


CONTRIBUTION_RECORDED = EventContract(
    SERVICE, "contribution-recorded", 1, ContributionRecordedV1, "A contribution was posted to the ledger."
)
BALANCE_WARNING = EventContract(
    SERVICE,
    "balance-warning",
    1,
    BalanceWarningV1,
    "A member's balance fell below the alliance's warning threshold (once per crossing).",
)
BALANCE_RECOVERED = EventContract(
    SERVICE,
    "balance-recovered",
    1,
    BalanceRecoveredV1,
    "A warned member's balance is back at or above the warning threshold.",
)
CONTRIBUTION_SUBMITTED = EventContract(
    SERVICE,
    "contribution-submitted",
    1,
    RecordContribution,
    "A contribution handed to the ledger asynchronously (high-volume intake, booked in batches); "
    "publish with Nats-Msg-Id = contribution id. The outcome is contribution-recorded or contribution-rejected.",
)
CONTRIBUTION_REJECTED = EventContract(
    SERVICE,
    "contribution-rejected",
    1,
    ContributionRejectedV1,
    "A submitted contribution was not booked, with the reason.",
)
RECORD_CONTRIBUTION = CommandContract(
    SERVICE,
    "record-contribution",
    RecordContribution,
    ContributionResult,
    "Record a contribution between two members of the same alliance (exactly once per contribution id).",
)
REVERSE_CONTRIBUTION = CommandContract(
    SERVICE,
    "reverse-contribution",
    ReverseContribution,
    ContributionResult,
    "Correct a contribution with a reversal entry that references it (entries are never changed).",
)
VERIFY = CommandContract(
    SERVICE,
    "verify",
    VerifyLedger,
    LedgerVerification,
    "Recompute the hash chain and every balance from the entries and report any difference.",
)
BALANCE = CommandContract(
    SERVICE, "balance", QueryBalance, BalanceView, "A member's balance of contribution in an alliance."
)

EVENTS: list[EventContract[Any]] = [
    CONTRIBUTION_SUBMITTED,
    CONTRIBUTION_RECORDED,
    CONTRIBUTION_REJECTED,
    BALANCE_WARNING,
    BALANCE_RECOVERED,
]
COMMANDS: list[CommandContract[Any, Any]] = [RECORD_CONTRIBUTION, REVERSE_CONTRIBUTION, BALANCE, VERIFY]
