"""The members service's own database schema (plus its outbox and inbox)."""

from __future__ import annotations

from sqlalchemy import JSON, Column, MetaData, String, Table

from kehrwasser_shared.messaging.tables import define_messaging_tables
from kehrwasser_shared.persistence.types import UtcDateTime

metadata = MetaData()

members = Table(
    "members",
    metadata,
    Column("member_id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("email", String(320), nullable=False, unique=True),
    Column("company", String(200), nullable=False),
    Column("language", String(2), nullable=False),
    Column("focus", JSON, nullable=False),
    Column("registered_at", UtcDateTime, nullable=False),
)

messaging = define_messaging_tables(metadata)
