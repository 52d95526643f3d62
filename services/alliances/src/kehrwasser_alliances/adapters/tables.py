"""The alliances service's own database schema (plus its outbox and inbox)."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    false,
)

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
    Column("requires_confirmation", Boolean, nullable=False, server_default=false()),
    Column("size_limit", Integer, nullable=True),
    Column("alignment_threshold", Integer, nullable=False, server_default="30"),
    Column("archived_at", UtcDateTime, nullable=True),
    Column("archived_by", String(64), nullable=True),
)

# The focus tags once more, one row each, so that alliances can be listed by tag with an index on both databases.
alliance_focus = Table(
    "alliance_focus",
    metadata,
    Column("alliance_id", ForeignKey("alliances.alliance_id"), primary_key=True),
    Column("tag", String(40), primary_key=True),
)
Index("ix_alliance_focus_tag", alliance_focus.c.tag, alliance_focus.c.alliance_id)

# One row per member and alliance: where they stand now (see `model.Membership`), overwritten by each transition.
memberships = Table(
    "memberships",
    metadata,
    Column("alliance_id", ForeignKey("alliances.alliance_id"), primary_key=True),
    Column("member_id", String(64), primary_key=True),
    Column("role", String(20), nullable=False),
    # When the status began: for a member, when they joined (the name predates the other statuses).
    Column("joined_at", UtcDateTime, nullable=False),
    Column("status", String(20), nullable=False, server_default="member"),
    Column("decided_by", String(64), nullable=True),
    Column("reason", Text, nullable=False, server_default=""),
    Column("message", Text, nullable=False, server_default=""),
    Column("admitted_via", String(20), nullable=True),
)
Index("ix_memberships_member", memberships.c.member_id, memberships.c.alliance_id)

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
    Column("agenda", Text, nullable=False, server_default=""),
    Column("rrule", String(500), nullable=True),  # RFC 5545 RRULE value; None: a one-off meeting
    Column("cancelled_at", UtcDateTime, nullable=True),
    Column("cancelled_by", String(64), nullable=True),
    Column("cancel_reason", Text, nullable=False, server_default=""),
)

# Occurrences of a series that differ from its rule, by their original wall-clock start (RECURRENCE-ID).
meeting_exceptions = Table(
    "meeting_exceptions",
    metadata,
    Column("meeting_id", ForeignKey("meetings.meeting_id"), primary_key=True),
    Column("recurrence_id", DateTime(timezone=False), primary_key=True),
    Column("cancelled", Boolean, nullable=False),
    Column("decided_by", String(64), nullable=False),
    Column("starts_at", DateTime(timezone=False), nullable=True),
    Column("duration_minutes", Integer, nullable=True),
    Column("location", String(500), nullable=True),
    Column("reason", Text, nullable=False, server_default=""),
)

meeting_attendance = Table(
    "meeting_attendance",
    metadata,
    Column("meeting_id", ForeignKey("meetings.meeting_id"), primary_key=True),
    Column("recurrence_id", DateTime(timezone=False), primary_key=True),
    Column("attended_ids", JSON, nullable=False),
    Column("absent_ids", JSON, nullable=False),
    Column("recorded_by", String(64), nullable=False),
    Column("recorded_at", UtcDateTime, nullable=False),
)

known_members = Table(
    "known_members",
    metadata,
    Column("member_id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("focus", JSON, nullable=True),  # None: learned before focus was kept, read as no focus
    # active, suspended, left or erased (`domain/standing.py`): the members service's last word about them.
    Column("standing", String(20), nullable=False, server_default="active"),
)

# What the ledger's events said last (`domain/signals.py`): each member's light, and each alliance's one-way flows.
ledger_lights = Table(
    "ledger_lights",
    metadata,
    Column("alliance_id", String(64), primary_key=True),
    Column("member_id", String(64), primary_key=True),
    Column("light", String(10), nullable=False),
    Column("balance", Numeric(18, 2), nullable=False),
    Column("reason", String(20), nullable=False),
    Column("since", UtcDateTime, nullable=False),
    Column("occurred_at", UtcDateTime, nullable=False),
)

ledger_flows = Table(
    "ledger_flows",
    metadata,
    Column("alliance_id", String(64), primary_key=True),
    Column("period_start", UtcDateTime, nullable=False),
    Column("one_way_since", JSON, nullable=False),  # member id: RFC 3339 time since when they are listed
)

resources = Table(
    "resources",
    metadata,
    Column("resource_id", String(64), primary_key=True),
    Column("alliance_id", ForeignKey("alliances.alliance_id"), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("title", String(200), nullable=False),
    Column("description", Text, nullable=False),
    Column("link", String(500), nullable=False),
    Column("owner_id", String(64), nullable=False),
    Column("added_at", UtcDateTime, nullable=False),
    Column("removed_at", UtcDateTime, nullable=True),
    Column("removed_by", String(64), nullable=True),
)
Index("ix_resources_alliance", resources.c.alliance_id, resources.c.resource_id)

resource_uses = Table(
    "resource_uses",
    metadata,
    Column("use_id", String(64), primary_key=True),
    Column("resource_id", ForeignKey("resources.resource_id"), nullable=False, index=True),
    Column("used_by", String(64), nullable=False),
    Column("note", Text, nullable=False),
    Column("used_at", UtcDateTime, nullable=False),
)

messaging = define_messaging_tables(metadata)
