"""Who to write to, and the deliveries waiting to go out."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple


class NotifyError(Exception):
    code = "notify-error"


class ContactNotYetKnown(NotifyError):
    """The member-registered event has not arrived yet: retried with backoff until it has."""

    code = "unknown-contact"

    def __init__(self, member_id: str) -> None:
        super().__init__(f"no contact details for member {member_id} yet")


class AllianceNotYetKnown(NotifyError):
    """The alliance-created event has not arrived yet: retried with backoff until it has.

    A warning must name the alliance as its members know it, never by its id.
    """

    code = "unknown-alliance"

    def __init__(self, alliance_id: str) -> None:
        super().__init__(f"no name for alliance {alliance_id} yet")


@dataclass(frozen=True)
class Contact:
    member_id: str
    name: str
    email: str
    language: str


CATEGORIES = ("balance", "meetings", "membership", "digest")


@dataclass(frozen=True)
class MailPreferences:
    """Which categories of mail a member wants, and the token of their unsubscribe links."""

    member_id: str
    turned_off: frozenset[str]
    unsubscribe_token: str

    def wants(self, category: str) -> bool:
        return category not in self.turned_off


@dataclass(frozen=True)
class Delivery:
    """One rendered email to one recipient, written in the same transaction as the event that caused it."""

    delivery_id: str
    kind: str
    member_id: str
    recipient: str
    message: bytes
    created_at: datetime
    problem: str | None = None
    """Why the message could not be built; such a delivery is recorded failed at once and never sent."""
    caused_by: str | None = None
    """The id of the event the message was written for."""
    suppressed: str | None = None
    """Why it is not sent (the member turned its category off); recorded suppressed, never sent."""


class LeasedDelivery(NamedTuple):
    """A delivery claimed for sending, with what the retry rule needs."""

    delivery: Delivery
    attempts: int
    """Attempts before this one."""
    queued_at: datetime
    """When it was queued (or queued again by an operator): the retry horizon counts from here."""


class SendFailed(Exception):
    """The mail server did not accept a message. ``permanent``: it never will (5xx), so it is tried once."""

    def __init__(self, reason: str, *, permanent: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


class DeliveryLogError(Exception):
    """Why a command on the delivery log is refused (the codes its replies carry)."""

    code = "delivery-log-error"


class UnknownDelivery(DeliveryLogError):
    code = "unknown-delivery"

    def __init__(self, delivery_id: str) -> None:
        super().__init__(f"no delivery {delivery_id} in the delivery log")


class NotFailed(DeliveryLogError):
    code = "not-failed"

    def __init__(self, delivery_id: str, status: str) -> None:
        super().__init__(f"delivery {delivery_id} is {status}, not failed: only a failed delivery can be retried")


LONGEST_ERROR = 1000
"""Characters of a failure's reason kept with its delivery."""


@dataclass(frozen=True)
class RetryPolicy:
    """When to try a temporarily refused email again: exponential backoff with jitter, until the horizon.

    The n-th failed attempt waits ``first * 2**(n-1)``, capped at ``longest``, of which a random part (the
    jitter, a share of ``jitter_share``) is left out, so that many deliveries refused at the same moment (a mail
    server's outage) do not all come back at the same moment. A delivery whose next attempt would fall after
    ``horizon`` from its queueing is given up instead (48 hours by default, as mail servers do).
    """

    first: timedelta = timedelta(seconds=30)
    longest: timedelta = timedelta(hours=1)
    horizon: timedelta = timedelta(hours=48)
    jitter_share: float = 0.5

    def delay(self, attempts: int, jitter: float) -> timedelta:
        """The wait after the ``attempts``-th failed attempt; ``jitter`` in [0, 1) picks it within its range."""
        backoff: timedelta = min(self.first * 2 ** min(max(attempts - 1, 0), 40), self.longest)
        return backoff * (1 - self.jitter_share * jitter)

    def next_attempt(self, attempts: int, queued_at: datetime, now: datetime, jitter: float) -> datetime | None:
        """When to try again after the ``attempts``-th failed attempt, or None: give up."""
        at = now + self.delay(attempts, jitter)
        return at if at <= queued_at + self.horizon else None


def delivery_id(event_id: str, member_id: str, kind: str) -> str:
    """Deterministic, so a redelivered event maps to the same delivery (and the same Message-ID)."""
    return hashlib.sha256(f"{kind}:{event_id}:{member_id}".encode()).hexdigest()[:32]


class DeliveryRecord(NamedTuple):
    """A delivery as the delivery log shows it."""

    delivery_id: str
    kind: str
    member_id: str
    recipient: str
    status: str
    """pending, sent, failed or suppressed"""
    attempts: int
    queued_at: datetime
    next_attempt_at: datetime
    sent_at: datetime | None
    last_error: str | None
    caused_by: str | None

    @property
    def log_status(self) -> str:
        """queued or retrying for a pending delivery (never attempted, or attempted and refused for now)."""
        if self.status == "pending":
            return "retrying" if self.attempts else "queued"
        return self.status
