"""Contracts owned by the ledger service."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, Field

from .common import (
    Command,
    ContributionValue,
    Identifier,
    Instant,
    Message,
    Points,
    PointsSetting,
    Text,
    Timestamp,
    Version,
)
from .registry import CommandContract, EventContract

SERVICE = "ledger"

MAX_MODERATORS = 1000
MAX_INACTIVITY_DAYS = 3650
MAX_PENDING_EXPIRY_HOURS = 24 * 366
DEFAULT_ATTENDANCE_POINTS = Decimal("1.00")

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
    note: Text
    recorded_at: Instant
    giver_balance: Points
    receiver_balance: Points
    reverses: Identifier | None = Field(None, description="The contribution this entry corrects, for a reversal")


class TrafficLight(StrEnum):
    GREEN = "green"
    YELLOW = "yellow"
    RED = "red"


class LightReason(StrEnum):
    BALANCE = "balance"
    INACTIVITY = "inactivity"


class BalanceWarningV2(BaseModel):
    alliance_id: Identifier
    member_id: Identifier
    light: TrafficLight = Field(description="The new, worse light: yellow or red")
    previous_light: TrafficLight
    reason: LightReason = Field(description="balance, or inactivity: nothing given within the policy's window")
    balance: Points
    threshold: Points | None = Field(description="The threshold the balance fell below (none for inactivity)")
    escalate_to: list[Identifier] = Field(
        default_factory=list,
        max_length=MAX_MODERATORS,
        description="Moderators to tell as well: every moderator but the member, on red",
    )
    contribution_id: Identifier | None = Field(
        None, description="The contribution that changed the light; none when a policy review or time did"
    )
    occurred_at: Instant


class BalanceRecoveredV2(BaseModel):
    alliance_id: Identifier
    member_id: Identifier
    light: TrafficLight = Field(description="The new, better light")
    previous_light: TrafficLight
    balance: Points
    contribution_id: Identifier | None = None
    occurred_at: Instant


class RecordContribution(Command):
    contribution_id: Identifier = Field(
        description="Chosen by the caller; a retry with the same id and fields returns the original result"
    )
    alliance_id: Identifier
    giver_id: Identifier
    receiver_id: Identifier = Field(description=f"A member id, or '{ALLIANCE_ACCOUNT}' for the alliance itself")
    kind: ContributionKind
    value: ContributionValue
    note: Text = ""
    recorded_by: Identifier | None = Field(
        None,
        description="Who records it: the giver (the default), the receiver (a thank-you) or a moderator. In an "
        "alliance that requires confirmation, a giver's record stays pending until the receiver confirms it",
    )


class ContributionRejectedV1(BaseModel):
    contribution_id: Identifier
    alliance_id: Identifier
    code: str = Field(
        max_length=64, description="Why: conflict, not-a-member, unknown-alliance, invalid-contribution, ..."
    )
    message: Message
    occurred_at: Instant


class ReverseContribution(Command):
    reversal_id: Identifier = Field(description="Chosen by the caller, like a contribution id")
    contribution_id: Identifier = Field(description="The contribution to correct")
    requested_by: Identifier = Field(description="A moderator of the alliance, or the original giver")
    reason: Text = ""


MAX_REPORTED_PROBLEMS = 1000


class VerifyLedger(Command):
    alliance_id: Identifier | None = Field(None, description="One alliance, or all when omitted")
    full: bool = Field(
        False,
        description="Recheck every alliance from genesis; by default each is checked from its last verified "
        "checkpoint on (what was booked since the last run)",
    )
    wait: bool = Field(
        False,
        description="Answer once the run has finished (for scripts and tests; the caller's timeout must allow "
        "for it); by default the answer comes at once, with the run's id, and verify-status follows the run",
    )


class VerifyRunState(StrEnum):
    RUNNING = "running"
    DONE = "done"


class LedgerVerification(BaseModel):
    run_id: str
    state: VerifyRunState
    full: bool = Field(description="Checked from genesis, not from the alliances' checkpoints")
    ok: bool = Field(description="No finding so far (final once the state is done)")
    alliances_total: int
    alliances_checked: int
    contributions_checked: int
    entries_checked: int
    problems: list[str] = Field(description=f"The findings, the first {MAX_REPORTED_PROBLEMS} of them")
    problem_count: int
    started_at: datetime
    updated_at: datetime
    finished_at: datetime | None


class QueryVerifyRun(Command):
    run_id: Identifier


class LedgerInconsistencyV1(BaseModel):
    run_id: Identifier = Field(description="The verification run that found it")
    alliance_id: Identifier
    problem: Message = Field(description="What differs between the stored books and their recomputation")
    full: bool = Field(description="Found by a run from genesis (else by one from the alliance's checkpoint)")
    detected_at: Instant


class ContributionResult(BaseModel):
    status: Literal["created", "exists", "pending"] = Field(
        description="pending: waits for the receiver's confirmation and is not in the balances yet"
    )
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


class QueryBalance(Command):
    alliance_id: Identifier
    member_id: Identifier


class BalanceView(BaseModel):
    alliance_id: str
    member_id: str
    balance: Points
    given: Points
    received: Points
    threshold: Points = Field(description="The red threshold")
    below_threshold: bool
    light: TrafficLight


CONTRIBUTION_RECORDED = EventContract(
    SERVICE, "contribution-recorded", 1, ContributionRecordedV1, "A contribution was posted to the ledger."
)
BALANCE_WARNING = EventContract(
    SERVICE,
    "balance-warning",
    2,
    BalanceWarningV2,
    "A member's traffic light worsened (once per crossing); on red the alliance's moderators are told as well.",
    consumed_by=("notify", "alliances"),
)
BALANCE_RECOVERED = EventContract(
    SERVICE,
    "balance-recovered",
    2,
    BalanceRecoveredV2,
    "A member's traffic light improved (after clearing the threshold by the policy's hysteresis).",
    consumed_by=("alliances", "notify"),
)
CONTRIBUTION_SUBMITTED = EventContract(
    SERVICE,
    "contribution-submitted",
    1,
    RecordContribution,
    "A contribution handed to the ledger asynchronously (high-volume intake, booked in batches); "
    "publish it with the header Nats-Msg-Id = the CloudEvent id (and publish a retry of the same event with the "
    "same id, so that the stream drops the copy), on the partition of its alliance: the subject ends in "
    "CRC-32(alliance_id) mod 16 (`EventContract.subject_for`). The contribution id is the ledger's idempotency "
    "key: the same contribution submitted again in a new event is booked once, and with different fields it is "
    "rejected (code conflict). The outcome is contribution-recorded (or -pending) or contribution-rejected; one "
    "that names an alliance or member the ledger has not learned of yet is retried with backoff for about a "
    "minute before it is rejected.",
    partition_key="alliance_id",
    consumed_by=("ledger",),
    external=True,
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
    errors=(
        "unknown-alliance",
        "alliance-archived",
        "not-a-member",
        "invalid-contribution",
        "conflict",
        "not-allowed",
        "below-floor",
        "probation-limit",
    ),
)
REVERSE_CONTRIBUTION = CommandContract(
    SERVICE,
    "reverse-contribution",
    ReverseContribution,
    ContributionResult,
    "Correct a contribution with a reversal entry that references it (entries are never changed).",
    errors=("unknown-contribution", "conflict", "not-allowed", "already-reversed", "unknown-alliance"),
)
VERIFY = CommandContract(
    SERVICE,
    "verify",
    VerifyLedger,
    LedgerVerification,
    "Start a verification run: recompute the hash chains and every balance from the entries (from each "
    "alliance's last verified checkpoint, or from genesis with full), several alliances at once, resumed after "
    "a restart; answers the run's id at once (or its result, with wait). Each finding is a ledger-inconsistency "
    "event.",
    errors=("unknown-alliance",),
)
VERIFY_STATUS = CommandContract(
    SERVICE,
    "verify-status",
    QueryVerifyRun,
    LedgerVerification,
    "The state and progress of a verification run: alliances, contributions and entries checked, findings.",
    errors=("unknown-verify-run",),
)
LEDGER_INCONSISTENCY = EventContract(
    SERVICE,
    "ledger-inconsistency",
    1,
    LedgerInconsistencyV1,
    "A verification run found the stored books of an alliance differ from their recomputation (a hash chain "
    "broken, an entry altered or missing, a balance that its entries do not give); one event per finding, for "
    "operators to alert on.",
)
BALANCE = CommandContract(
    SERVICE,
    "balance",
    QueryBalance,
    BalanceView,
    "A member's balance of contribution in an alliance.",
    errors=("unknown-alliance", "unknown-member"),
)

# --- Balance policy, traffic lights and confirmation -------------------------------------------------------


class PendingStatus(StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    REJECTED = "rejected"
    EXPIRED = "expired"


class PendingContributionView(BaseModel):
    contribution_id: str
    alliance_id: str
    giver_id: str
    receiver_id: str
    kind: ContributionKind
    value: Points
    note: str
    recorded_by: str
    submitted_at: datetime
    expires_at: datetime
    status: PendingStatus
    decided_by: str | None = None
    decided_at: datetime | None = None
    reason: str = ""


class ContributionPendingV1(PendingContributionView):
    """A giver's record waits for the receiver's confirmation (status is always pending here)."""


class ContributionDisputedV1(PendingContributionView):
    """The receiver or a moderator rejected a pending contribution (status rejected, with the reason)."""


class ContributionExpiredV1(PendingContributionView):
    """Nobody confirmed a pending contribution in time (status expired)."""


class ConfirmContribution(Command):
    contribution_id: Identifier
    confirmed_by: Identifier = Field(description="The receiver, or a moderator of the alliance")


class RejectContribution(Command):
    contribution_id: Identifier
    rejected_by: Identifier = Field(description="The receiver, or a moderator of the alliance")
    reason: Text = ""


class QueryDisputes(Command):
    alliance_id: Identifier
    requested_by: Identifier = Field(description="A moderator: disputes are visible to moderators")


class Disputes(BaseModel):
    alliance_id: str
    pending: list[PendingContributionView]
    rejected: list[PendingContributionView]
    expired: list[PendingContributionView]


PolicyLimit = Literal["yellow_below", "floor", "inactivity_days", "probation_limit"]


class SetPolicy(Command):
    """Change an alliance's balance policy; fields left out keep their value, ``clear`` removes optional limits."""

    alliance_id: Identifier
    requested_by: Identifier = Field(description="A moderator of the alliance")
    red_below: PointsSetting | None = Field(None, description="Red below this net balance (the warning threshold)")
    yellow_below: PointsSetting | None = Field(None, description="Yellow below this net balance (at or above red)")
    floor: PointsSetting | None = Field(
        None, description="Hard floor: a contribution taking a receiver below it is refused"
    )
    inactivity_days: int | None = Field(
        None, gt=0, le=MAX_INACTIVITY_DAYS, description="Yellow when nothing was given in this many days"
    )
    hysteresis: PointsSetting | None = Field(None, ge=0, description="How far past a threshold a light must recover")
    probation_limit: PointsSetting | None = Field(
        None, ge=0, description="What a newcomer who has given nothing yet may receive in all"
    )
    requires_confirmation: bool | None = Field(None, description="Givers' records wait for the receiver")
    pending_expiry_hours: int | None = Field(
        None, gt=0, le=MAX_PENDING_EXPIRY_HOURS, description="Pending contributions expire after this"
    )
    book_attendance: bool | None = Field(
        None, description="Book each recorded attendance of a meeting as an attendance contribution to the alliance"
    )
    attendance_points: ContributionValue | None = Field(None, description="What one attended occurrence is worth")
    clear: list[PolicyLimit] = Field(default_factory=list, max_length=4, description="Optional limits to remove")


class QueryPolicy(Command):
    alliance_id: Identifier


class PolicyView(BaseModel):
    alliance_id: str
    red_below: Points
    yellow_below: Points | None
    floor: Points | None
    inactivity_days: int | None
    hysteresis: Points
    probation_limit: Points | None
    requires_confirmation: bool
    pending_expiry_hours: int
    book_attendance: bool = False
    attendance_points: Points = Field(DEFAULT_ATTENDANCE_POINTS, description="Booked per attended occurrence")


class PolicyChangedV1(PolicyView):
    """An alliance's balance policy changed; lights were reviewed against it at once."""

    changed_by: str
    occurred_at: Instant


class QueryTrafficLight(Command):
    alliance_id: Identifier
    member_id: Identifier | None = Field(None, description="One member, or every member when omitted")


class TrafficLightView(BaseModel):
    member_id: str
    light: TrafficLight
    balance: Points
    given: Points
    received: Points
    inactive: bool = Field(description="Nothing given within the policy's inactivity window")
    on_probation: bool = Field(description="Has not given anything yet while the alliance has a probation limit")
    last_given_at: datetime | None


class TrafficLights(BaseModel):
    alliance_id: str
    policy: PolicyView
    members: list[TrafficLightView]


CONTRIBUTION_PENDING = EventContract(
    SERVICE,
    "contribution-pending",
    1,
    ContributionPendingV1,
    "A contribution recorded by its giver waits for the receiver's confirmation (not in the balances yet).",
    consumed_by=("notify",),
)
CONTRIBUTION_DISPUTED = EventContract(
    SERVICE,
    "contribution-disputed",
    1,
    ContributionDisputedV1,
    "The receiver or a moderator rejected a pending contribution; moderators see it among the disputes.",
)
CONTRIBUTION_EXPIRED = EventContract(
    SERVICE, "contribution-expired", 1, ContributionExpiredV1, "A pending contribution was not confirmed in time."
)
POLICY_CHANGED = EventContract(
    SERVICE, "policy-changed", 1, PolicyChangedV1, "A moderator changed an alliance's balance policy."
)
CONFIRM_CONTRIBUTION = CommandContract(
    SERVICE,
    "confirm-contribution",
    ConfirmContribution,
    ContributionResult,
    "The receiver (or a moderator) confirms a pending contribution: it is posted now (idempotent).",
    errors=(
        "unknown-contribution",
        "not-allowed",
        "not-pending",
        "unknown-alliance",
        "not-a-member",
        "invalid-contribution",
        "below-floor",
        "probation-limit",
    ),
)
REJECT_CONTRIBUTION = CommandContract(
    SERVICE,
    "reject-contribution",
    RejectContribution,
    PendingContributionView,
    "The receiver (or a moderator) rejects a pending contribution; it becomes a dispute (idempotent).",
    errors=("unknown-contribution", "not-allowed", "not-pending"),
)
DISPUTES = CommandContract(
    SERVICE,
    "disputes",
    QueryDisputes,
    Disputes,
    "Pending, rejected and expired contributions of an alliance, for its moderators.",
    errors=("unknown-alliance", "not-allowed"),
)
SET_POLICY = CommandContract(
    SERVICE,
    "set-policy",
    SetPolicy,
    PolicyView,
    "A moderator changes the alliance's balance policy; every member's light is reviewed against it.",
    errors=("unknown-alliance", "not-allowed", "invalid-policy"),
)
POLICY = CommandContract(
    SERVICE, "policy", QueryPolicy, PolicyView, "An alliance's balance policy.", errors=("unknown-alliance",)
)
TRAFFIC_LIGHT = CommandContract(
    SERVICE,
    "traffic-light",
    QueryTrafficLight,
    TrafficLights,
    "The traffic light (green, yellow, red) of one member or of every member of an alliance.",
    errors=("unknown-alliance", "unknown-member"),
)


# --- Reciprocity analytics, statements and their queries ----------------------------------------------------


class StatementOrder(StrEnum):
    NEWEST_FIRST = "newest-first"
    OLDEST_FIRST = "oldest-first"


class QueryStatement(Command):
    alliance_id: Identifier
    member_id: Identifier
    after_version: Version | None = Field(
        None,
        description="Cursor: continue after this account version in the chosen order (the previous page's "
        "next_after_version); omitted: start at the newest (or oldest) entry",
    )
    limit: int = Field(50, ge=1, le=500, description="Entries per page")
    order: StatementOrder = StatementOrder.NEWEST_FIRST


class StatementLine(BaseModel):
    version: int = Field(description="The account's entry number: gapless, 1 for the member's first entry")
    contribution_id: str
    recorded_at: datetime
    role: Literal["giver", "receiver"] = Field(description="The member's side of the contribution")
    counterparty_id: str = Field(description=f"The other side: a member id, or '{ALLIANCE_ACCOUNT}'")
    kind: ContributionKind
    amount: Points = Field(description="Change of the member's balance (negative for receiving or a reversal)")
    balance_before: Points
    balance_after: Points
    note: str
    reverses: str | None = Field(None, description="The contribution this entry corrects, for a reversal")


class MemberStatement(BaseModel):
    alliance_id: str
    member_id: str
    order: StatementOrder
    items: list[StatementLine]
    next_after_version: int | None = Field(description="Pass as after_version for the next page; none at the end")


class QueryBalanceAt(Command):
    alliance_id: Identifier
    member_id: Identifier
    at: Timestamp = Field(description="Any time since 1970 (before 2100); a time without zone is read as UTC")


class BalanceAtView(BaseModel):
    alliance_id: str
    member_id: str
    at: datetime
    balance: Points = Field(description="The balance after the member's last entry recorded at or before `at`")
    version: int = Field(description="That entry's account version; 0 before the member's first entry")
    contribution_id: str | None = Field(description="The contribution of that entry")
    recorded_at: datetime | None


class QueryFlowMatrix(Command):
    alliance_id: Identifier
    kind: ContributionKind | None = Field(None, description="Only this kind of contribution; all when omitted")


class FlowCell(BaseModel):
    giver_id: str
    receiver_id: str = Field(description=f"A member id, or '{ALLIANCE_ACCOUNT}' for the alliance itself")
    kind: ContributionKind
    value: Points = Field(description="Net value: reversals subtract what they undo")
    contributions: int = Field(description="Net number of contributions (reversed ones cancel out)")


class OneWayFlowView(BaseModel):
    member_id: str
    received: Points = Field(description="Net value received from other members")
    given: Points = Field(description="Net value given to anyone in the alliance, the alliance itself included")
    referrals_received: Points = Field(description="The part of `received` that were referrals")
    sources: int = Field(description="How many distinct members gave to this member")


class FlowMatrixView(BaseModel):
    alliance_id: str
    kind: ContributionKind | None
    cells: list[FlowCell] = Field(description="Who gave to whom, by kind; cells reversals emptied are left out")
    given: dict[str, Points] = Field(description="Net value given per member")
    received: dict[str, Points] = Field(description="Net value received per member (and the alliance itself)")
    total: Points
    one_way: list[OneWayFlowView] = Field(
        description="Members who received from others but gave back less than one_way_floor times that"
    )
    one_way_floor: Decimal


class QueryAllianceHealth(Command):
    alliance_id: Identifier


class AllianceHealthView(BaseModel):
    alliance_id: str
    members: int
    active_givers: int = Field(description="Members who gave anything (net of reversals)")
    total_given: Points
    gini: Decimal = Field(
        description="Gini coefficient of giving over all members (non-givers count as 0): 0 when everyone gave "
        "the same (or nobody gave), towards 1 when one member gave everything; truncated to four places"
    )
    one_way_count: int
    one_way_members: list[str] = Field(description="Members who received but gave back less than one_way_floor")
    one_way_floor: Decimal
    computed_at: Instant


class AllianceHealthV1(BaseModel):
    alliance_id: Identifier
    period_start: Instant = Field(description="The period this figure stands for (one event per alliance each)")
    period_seconds: int
    members: int
    active_givers: int
    total_given: Points
    gini: Decimal = Field(description="Gini coefficient of giving over all members, truncated to four places")
    one_way_count: int
    one_way_members: list[Identifier]
    one_way_floor: Decimal
    computed_at: Instant


ALLIANCE_HEALTH_PUBLISHED = EventContract(
    SERVICE,
    "alliance-health",
    1,
    AllianceHealthV1,
    "An alliance's reciprocity health (Gini coefficient of giving, active givers, one-way flows), published "
    "once per alliance and period; the event id is derived from alliance and period, so a second copy is "
    "dropped by the ledger's outbox and by the stream's deduplication.",
    consumed_by=("alliances", "notify"),
)
STATEMENT = CommandContract(
    SERVICE,
    "statement",
    QueryStatement,
    MemberStatement,
    "A member's entries in an alliance, a page at a time (cursor: account version), newest or oldest first.",
    errors=("unknown-alliance", "unknown-member"),
)
BALANCE_AT = CommandContract(
    SERVICE,
    "balance-at",
    QueryBalanceAt,
    BalanceAtView,
    "A member's balance in an alliance as of any past time.",
    errors=("unknown-alliance", "unknown-member"),
)
FLOW_MATRIX = CommandContract(
    SERVICE,
    "flow-matrix",
    QueryFlowMatrix,
    FlowMatrixView,
    "Who gave to whom in an alliance, by kind, with each member's totals and the one-way flows.",
    errors=("unknown-alliance",),
)
ALLIANCE_HEALTH = CommandContract(
    SERVICE,
    "alliance-health",
    QueryAllianceHealth,
    AllianceHealthView,
    "An alliance's reciprocity health now: Gini coefficient of giving, active givers, one-way flows.",
    errors=("unknown-alliance",),
)


EVENTS: list[EventContract[Any]] = [
    CONTRIBUTION_SUBMITTED,
    CONTRIBUTION_RECORDED,
    CONTRIBUTION_REJECTED,
    BALANCE_WARNING,
    BALANCE_RECOVERED,
    CONTRIBUTION_PENDING,
    CONTRIBUTION_DISPUTED,
    CONTRIBUTION_EXPIRED,
    POLICY_CHANGED,
    ALLIANCE_HEALTH_PUBLISHED,
    LEDGER_INCONSISTENCY,
]
COMMANDS: list[CommandContract[Any, Any]] = [
    RECORD_CONTRIBUTION,
    REVERSE_CONTRIBUTION,
    BALANCE,
    VERIFY,
    VERIFY_STATUS,
    CONFIRM_CONTRIBUTION,
    REJECT_CONTRIBUTION,
    DISPUTES,
    SET_POLICY,
    POLICY,
    TRAFFIC_LIGHT,
    STATEMENT,
    BALANCE_AT,
    FLOW_MATRIX,
    ALLIANCE_HEALTH,
]
