"""Who to write to, and the deliveries waiting to go out."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta


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


SEND_ATTEMPTS = 8
FIRST_RETRY = timedelta(seconds=5)
LONGEST_RETRY = timedelta(hours=1)
SENDING_LEASE = timedelta(minutes=2)
LONGEST_ERROR = 1000
"""Characters of a failure's reason kept with its delivery."""


def delivery_id(event_id: str, member_id: str, kind: str) -> str:
    """Deterministic, so a redelivered event maps to the same delivery (and the same Message-ID)."""
    return hashlib.sha256(f"{kind}:{event_id}:{member_id}".encode()).hexdigest()[:32]


def retry_delay(attempts: int) -> timedelta:
    """Exponential backoff after the n-th failed attempt, capped."""
    backoff: timedelta = FIRST_RETRY * 2 ** max(attempts - 1, 0)
    return min(backoff, LONGEST_RETRY)
