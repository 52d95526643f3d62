"""Contracts owned by the notify service: its delivery log, retrying a failed email, and the failure event."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field, StringConstraints

from .common import Command, Identifier, Instant, Message
from .registry import CommandContract, EventContract

SERVICE = "notify"
MAX_PAGE = 200

DeliveryStatus = Literal["pending", "sent", "failed", "suppressed"]
"""``pending``: queued, or waiting for its next attempt after a temporary failure (``retrying`` in the log when it
has been attempted); ``sent``: the mail server accepted it; ``failed``: given up (a permanent refusal, the retry
horizon passed, or the message could not be built); ``suppressed``: not sent because the member turned its
category off (the reason says so)."""
LogStatus = Literal["queued", "retrying", "sent", "failed", "suppressed"]
"""The states the delivery log shows: ``queued`` (pending, never attempted) and ``retrying`` (pending after a
failed attempt) split ``pending``."""


def encode_cursor(created_at: datetime, delivery_id: str) -> str:
    """The opaque cursor after a delivery in the log's order (newest first, then by id)."""
    position = json.dumps([created_at.isoformat(), delivery_id]).encode()
    return base64.urlsafe_b64encode(position).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The position an `encode_cursor` cursor names; ValueError for anything else."""
    try:
        position = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not (isinstance(position, list) and len(position) == 2 and all(isinstance(p, str) for p in position)):
            raise ValueError("not a cursor this service gave out")
        created_at = datetime.fromisoformat(position[0])
    except (binascii.Error, UnicodeDecodeError, json.JSONDecodeError, ValueError) as error:
        raise ValueError("not a cursor this service gave out") from error
    if created_at.tzinfo is None:
        raise ValueError("not a cursor this service gave out")
    return created_at, position[1]


def _check_cursor(cursor: str) -> str:
    decode_cursor(cursor)
    return cursor


Cursor = Annotated[
    str,
    StringConstraints(min_length=1, max_length=400, pattern=r"^[A-Za-z0-9_-]+$"),
    AfterValidator(_check_cursor),
    Field(description="The next_cursor of the previous page, as given"),
]


class NotificationFailedV1(BaseModel):
    """An email was given up for good: an operator may look at the reason and retry it (`notify.retry`)."""

    delivery_id: Identifier
    kind: Annotated[str, StringConstraints(max_length=40)] = Field(
        description="What the mail was, e.g. balance-warning"
    )
    member_id: Identifier = Field(description="The recipient")
    reason: Message = Field(description="The mail server's answer or why the message could not be built")
    permanent: bool = Field(description="Refused for good (5xx, or not buildable); false: the retry horizon passed")
    attempts: int = Field(ge=0, le=100_000)
    caused_by: Identifier | None = Field(None, description="The id of the event the mail was written for")
    queued_at: Instant
    failed_at: Instant


class MailLog(Command):
    """The delivery log, newest first, a page at a time."""

    member_id: Identifier | None = Field(None, description="Only mail to this member")
    status: LogStatus | None = Field(None, description="Only deliveries in this state")
    limit: int = Field(50, ge=1, le=MAX_PAGE, description="Deliveries per page")
    cursor: Cursor | None = None


class DeliveryView(BaseModel):
    delivery_id: str
    kind: str
    member_id: str
    recipient: str
    status: LogStatus
    attempts: int
    queued_at: Instant
    next_attempt_at: Instant | None = Field(description="When a queued or retrying delivery is tried next")
    sent_at: Instant | None
    last_error: str | None = Field(description="The last failure's reason, or why it was suppressed")
    caused_by: str | None = Field(description="The id of the event the mail was written for")


class MailLogPage(BaseModel):
    deliveries: list[DeliveryView]
    next_cursor: str | None = Field(description="Pass as cursor for the next page; none at the end")


class RetryDelivery(Command):
    """Queue a failed delivery again, as it was (same message, same Message-ID), due now."""

    delivery_id: Identifier
    requested_by: Identifier = Field(description="The operator who asks (logged)")


NOTIFICATION_FAILED = EventContract(
    SERVICE,
    "notification-failed",
    1,
    NotificationFailedV1,
    "An email was given up: refused for good by the mail server (5xx), not delivered within the retry horizon, "
    "or impossible to build. The delivery log shows it as failed; `notify.retry` queues it again.",
)
MAIL_LOG = CommandContract(
    SERVICE,
    "mail-log",
    MailLog,
    MailLogPage,
    "The delivery log (queued, retrying, sent, failed, suppressed and why), newest first, filtered by member and "
    "state; a page at a time.",
)
RETRY = CommandContract(
    SERVICE,
    "retry",
    RetryDelivery,
    DeliveryView,
    "Queue a failed delivery again, due now; its attempts and retry horizon start afresh.",
    errors=("unknown-delivery", "not-failed"),
)

EVENTS: list[EventContract[Any]] = [NOTIFICATION_FAILED]
COMMANDS: list[CommandContract[Any, Any]] = [MAIL_LOG, RETRY]
