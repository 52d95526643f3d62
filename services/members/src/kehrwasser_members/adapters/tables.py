"""The members service's own database schema (plus its outbox and inbox)."""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Column, ForeignKey, Index, MetaData, String, Table, Text, true

from kehrwasser_shared.messaging.tables import define_messaging_tables
from kehrwasser_shared.persistence.types import UtcDateTime

metadata = MetaData()

members = Table(
    "members",
    metadata,
    Column("member_id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("name_key", String(200), nullable=False),
    # An erased member's row holds `ERASED_ADDRESS_DOMAIN` placeholder (repository.py): the address is free again.
    Column("email", String(320), nullable=False, unique=True),
    Column("company", String(200), nullable=False),
    Column("language", String(2), nullable=False),
    Column("timezone", String(64), nullable=False),
    Column("focus", JSON, nullable=False),
    Column("status", String(16), nullable=False),
    Column("status_changed_by", String(64)),
    Column("status_reason", Text),
    Column("status_changed_at", UtcDateTime),
    Column("wants_balance", Boolean, nullable=False, server_default=true()),
    Column("wants_meetings", Boolean, nullable=False, server_default=true()),
    Column("wants_membership", Boolean, nullable=False, server_default=true()),
    Column("wants_digest", Boolean, nullable=False, server_default=true()),
    Column("unsubscribe_token", String(128), nullable=False, unique=True),
    Column("pending_email", String(320)),
    Column("email_token_hash", String(64), unique=True),
    Column("email_token_expires_at", UtcDateTime),
    Column("registered_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    # Lists are in name order, a page after another (keyset), so the key and the id are one index.
    Index("ix_members_name_key", "name_key", "member_id"),
    Index("ix_members_status_name_key", "status", "name_key", "member_id"),
)

member_focus = Table(
    "member_focus",
    metadata,
    Column("member_id", String(64), ForeignKey("members.member_id"), primary_key=True),
    Column("tag", String(40), primary_key=True),
    # The focus filter of a list looks up by tag; the JSON column keeps the member's own order of tags.
    Index("ix_member_focus_tag", "tag", "member_id"),
)

messaging = define_messaging_tables(metadata)
