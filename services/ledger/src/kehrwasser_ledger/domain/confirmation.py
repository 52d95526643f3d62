"""Two-phase contributions: a giver's record waits for the receiver, who confirms or rejects it in time.

Only the giver's own word needs a second voice: a receiver's "thank you" and a moderator's record post at once.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from .errors import NotAllowed, NotPending
from .policy import BalancePolicy


class PendingStatus(StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    REJECTED = "rejected"
    EXPIRED = "expired"


@dataclass(frozen=True)
class PendingContribution:
    contribution_id: str
    alliance_id: str
    giver_id: str
    receiver_id: str
    kind: str
    value: Decimal
    note: str
    recorded_by: str
    submitted_at: datetime
    expires_at: datetime
    status: PendingStatus = PendingStatus.PENDING
    decided_by: str | None = None
    decided_at: datetime | None = None
    reason: str = ""


def check_recorder(moderators: frozenset[str], giver_id: str, receiver_id: str, recorded_by: str) -> None:
    if recorded_by != giver_id and recorded_by != receiver_id and recorded_by not in moderators:
        raise NotAllowed("a contribution is recorded by its giver, its receiver or a moderator")


def needs_confirmation(policy: BalancePolicy, moderators: frozenset[str], giver_id: str, recorded_by: str) -> bool:
    return policy.requires_confirmation and recorded_by == giver_id and recorded_by not in moderators


def hold(
    policy: BalancePolicy,
    *,
    contribution_id: str,
    alliance_id: str,
    giver_id: str,
    receiver_id: str,
    kind: str,
    value: Decimal,
    note: str,
    recorded_by: str,
    now: datetime,
) -> PendingContribution:
    return PendingContribution(
        contribution_id,
        alliance_id,
        giver_id,
        receiver_id,
        kind,
        value,
        note,
        recorded_by,
        now,
        now + policy.pending_expiry,
    )


def decide(
    pending: PendingContribution,
    *,
    by: str,
    moderators: frozenset[str],
    confirm: bool,
    now: datetime,
    reason: str = "",
) -> PendingContribution:
    """Confirm or reject: the receiver's decision, or a moderator's; the alliance account has only moderators."""
    if pending.status is not PendingStatus.PENDING:
        raise NotPending(pending.contribution_id, pending.status.value)
    if is_due(pending, now):  # expired, though the periodic expiry has not recorded it yet
        raise NotPending(pending.contribution_id, PendingStatus.EXPIRED.value)
    if by not in moderators | {pending.receiver_id}:
        raise NotAllowed("only the receiver or a moderator may confirm or reject a pending contribution")
    status = PendingStatus.CONFIRMED if confirm else PendingStatus.REJECTED
    return replace(pending, status=status, decided_by=by, decided_at=now, reason=reason)


def expire(pending: PendingContribution, now: datetime) -> PendingContribution:
    return replace(pending, status=PendingStatus.EXPIRED, decided_at=now, reason="not confirmed in time")


def is_due(pending: PendingContribution, now: datetime) -> bool:
    return pending.status is PendingStatus.PENDING and pending.expires_at <= now
