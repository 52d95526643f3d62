"""The alliances service's own database schema (plus its outbox and inbox)."""

from __future__ import annotations

from sqlalchemy import JSON, Column, DateTime, ForeignKey, Integer, MetaData, Numeric, String, Table, Text

from kehrwasser_shared.messaging.tables import define_messaging_tables
from kehrwasser_shared.persistence.types import UtcDateTime

metadata = MetaData()

alliances = Table(
    "alliances",
    metadata,
    Column("alliance_id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("purpose", Text, nullable=False),
    Column("focus", JSON, nullable=False),
    Column("warning_threshold", Numeric(18, 2), nullable=False),
    Column("founder_id", String(64), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

memberships = Table(
    "memberships",
    metadata,
    Column("alliance_id", ForeignKey("alliances.alliance_id"), primary_key=True),
    Column("member_id", String(64), primary_key=True),
    Column("role", String(20), nullable=False),
    Column("joined_at", UtcDateTime, nullable=False),
)

meetings = Table(
    "meetings",
    metadata,
    Column("meeting_id", String(64), primary_key=True),
    Column("alliance_id", ForeignKey("alliances.alliance_id"), nullable=False, index=True),
    Column("title", String(200), nullable=False),
    # Wall-clock time in `timezone`: a meeting at 18:00 Berlin stays at 18:00 across a DST change.
    Column("starts_at", DateTime(timezone=False), nullable=False),
    Column("timezone", String(64), nullable=False),
    Column("duration_minutes", Integer, nullable=False),
    Column("location", String(500), nullable=False),
    Column("organizer_id", String(64), nullable=False),
    Column("attendee_ids", JSON, nullable=False),
    Column("sequence", Integer, nullable=False),
)

known_members = Table(
    "known_members",
    metadata,
    Column("member_id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
)

messaging = define_messaging_tables(metadata)
