"""Who to write to, and the deliveries waiting to go out."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo


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


DEFAULT_TIMEZONE = "Europe/Berlin"
"""A member's time zone until their profile names one (the members contracts' default; a test keeps them equal)."""


@dataclass(frozen=True)
class Contact:
    member_id: str
    name: str
    email: str
    language: str
    timezone: str = DEFAULT_TIMEZONE
    """The IANA zone the member's mail shows times in and their quiet hours are kept in."""


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
    not_before: datetime | None = None
    """The earliest it may be sent (the end of the member's quiet hours); None: at once."""


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


@dataclass(frozen=True)
class QuietHours:
    """Hours of the member's night in which non-urgent mail waits: from ``start`` to ``end`` o'clock on the
    member's clocks, across midnight when ``start`` is after ``end`` (``22-7``)."""

    start: int
    end: int

    def __post_init__(self) -> None:
        if not (0 <= self.start <= 23 and 0 <= self.end <= 23) or self.start == self.end:
            raise ValueError(f"quiet hours run from one hour of the day (0-23) to another, not {self.start}-{self.end}")

    @classmethod
    def parse(cls, text: str) -> QuietHours | None:
        """``"22-7"`` (from 22:00 to 07:00); an empty text: no quiet hours."""
        if not text.strip():
            return None
        start, dash, end = text.strip().partition("-")
        if not dash or not start.strip().isdigit() or not end.strip().isdigit():
            raise ValueError(f"quiet hours are written like 22-7, not {text!r}")
        return cls(int(start), int(end))

    def ends_after(self, now: datetime, timezone: str) -> datetime | None:
        """The end of the quiet hours ``now`` falls in on clocks in ``timezone`` (in UTC), or None: not quiet.

        Wall-clock hours: an end that a change to summer time skips is the first moment after the gap; one that
        the change back repeats is its first occurrence.
        """
        zone = ZoneInfo(timezone)
        local = now.astimezone(zone)
        hour = local.time()
        start, end = time(self.start), time(self.end)
        if start < end:
            quiet, ends_on = start <= hour < end, local.date()
        else:
            quiet = hour >= start or hour < end
            ends_on = local.date() + timedelta(days=1) if hour >= start else local.date()
        if not quiet:
            return None
        # Through UTC: a wall-clock time in a gap (fold 0) takes the offset before the change, i.e. after it.
        return datetime.combine(ends_on, end, tzinfo=zone).astimezone(UTC)


def may_send_at(now: datetime, timezone: str, quiet_hours: QuietHours | None, *, urgent: bool) -> datetime:
    """When a message written ``now`` may be sent to a member in ``timezone``: at once, unless it is not urgent
    and ``now`` falls in their quiet hours; then when those end."""
    if urgent or quiet_hours is None:
        return now
    return quiet_hours.ends_after(now, timezone) or now


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
