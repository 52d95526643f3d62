"""The notify service's own database schema (plus its outbox and inbox)."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Index, Integer, LargeBinary, MetaData, String, Table, Text

from kehrwasser_shared.messaging.tables import define_messaging_tables
from kehrwasser_shared.persistence.types import UtcDateTime

from ..domain.model import DEFAULT_TIMEZONE

metadata = MetaData()

contacts = Table(
    "contacts",
    metadata,
    Column("member_id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("email", String(320), nullable=False),
    Column("language", String(2), nullable=False),
    Column("timezone", String(64), nullable=False, server_default=DEFAULT_TIMEZONE),
)

alliance_names = Table(
    "alliance_names",
    metadata,
    Column("alliance_id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("founded_at", UtcDateTime, nullable=True),  # None: learnt before notify kept it (0007)
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("delivery_id", String(64), primary_key=True),
    Column("kind", String(40), nullable=False),
    Column("member_id", String(64), nullable=False),
    Column("recipient", String(320), nullable=False),
    Column("message", LargeBinary, nullable=False),
    Column("status", String(10), nullable=False),  # pending, sent, failed, suppressed
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UtcDateTime, nullable=False),
    Column("last_error", Text, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("sent_at", UtcDateTime, nullable=True),
    Column("caused_by", String(64), nullable=True),  # the event the mail was written for
    Column("requeued_at", UtcDateTime, nullable=True),  # queued again by an operator: the retry horizon's start
)
Index("ix_deliveries_due", deliveries.c.status, deliveries.c.next_attempt_at)
Index("ix_deliveries_log", deliveries.c.created_at, deliveries.c.delivery_id)
Index("ix_deliveries_member_log", deliveries.c.member_id, deliveries.c.created_at)

alliance_moderators = Table(
    "alliance_moderators",
    metadata,
    Column("alliance_id", String(64), primary_key=True),
    Column("member_id", String(64), primary_key=True),
)

mail_preferences = Table(
    "mail_preferences",
    metadata,
    Column("member_id", String(64), primary_key=True),
    Column("balance", Boolean, nullable=False),
    Column("meetings", Boolean, nullable=False),
    Column("membership", Boolean, nullable=False),
    Column("digest", Boolean, nullable=False),
    Column("unsubscribe_token", String(128), nullable=False),
)

# What the weekly digest for moderators shows (service_layer.digest): kept from the events notify follows.
digest_lights = Table(
    "digest_lights",
    metadata,
    Column("alliance_id", String(64), primary_key=True),
    Column("member_id", String(64), primary_key=True),
    Column("light", String(6), nullable=False),  # green, yellow, red
    Column("as_of", UtcDateTime, nullable=False),
)

digest_health = Table(
    "digest_health",
    metadata,
    Column("alliance_id", String(64), primary_key=True),
    Column("period_start", UtcDateTime, nullable=False),
    Column("figure", Text, nullable=False),  # JSON: the rest of the latest alliance-health
)

digest_requests = Table(
    "digest_requests",
    metadata,
    Column("alliance_id", String(64), primary_key=True),
    Column("member_id", String(64), primary_key=True),
    Column("requested_at", UtcDateTime, nullable=False),
    Column("closed_at", UtcDateTime, nullable=True),  # open while null or before requested_at
)

digest_meetings = Table(
    "digest_meetings",
    metadata,
    Column("meeting_id", String(64), primary_key=True),
    Column("alliance_id", String(64), nullable=False, index=True),
    Column("sequence", Integer, nullable=False),
    Column("cancelled", Boolean, nullable=False),
    Column("plan", Text, nullable=False),  # JSON: start, zone, rule, exceptions, title, place, duration
)

archived_alliances = Table(
    "archived_alliances",
    metadata,
    Column("alliance_id", String(64), primary_key=True),
    Column("archived_at", UtcDateTime, nullable=False),
)

messaging = define_messaging_tables(metadata)
