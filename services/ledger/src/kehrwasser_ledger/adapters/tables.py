"""The ledger's own database schema (plus its outbox and inbox).

Amounts are stored as integer cents: exact on SQLite (which has no decimal type) and PostgreSQL alike.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    func,
)

from kehrwasser_shared.messaging.tables import define_messaging_tables
from kehrwasser_shared.persistence.types import UtcDateTime

metadata = MetaData()

ledger_alliances = Table(
    "ledger_alliances",
    metadata,
    Column("alliance_id", String(64), primary_key=True),
    Column("warning_threshold_cents", BigInteger, nullable=False),  # the policy's red threshold
    Column("chain_length", Integer, nullable=False),
    Column("chain_head", String(64), nullable=False),
    Column("yellow_below_cents", BigInteger, nullable=True),
    Column("floor_cents", BigInteger, nullable=True),
    Column("inactivity_days", Integer, nullable=True),
    Column("hysteresis_cents", BigInteger, nullable=False, server_default="100"),
    Column("probation_limit_cents", BigInteger, nullable=True),
    Column("requires_confirmation", Boolean, nullable=False, server_default=false()),
    Column("pending_expiry_hours", Integer, nullable=False, server_default="336"),
    Column("archived", Boolean, nullable=False, server_default=false()),
    Column("departures", Integer, nullable=False, server_default="0"),
    Column("book_attendance", Boolean, nullable=False, server_default=false()),
    Column("attendance_points_cents", BigInteger, nullable=False, server_default="100"),
)

ledger_members = Table(
    "ledger_members",
    metadata,
    Column("alliance_id", String(64), primary_key=True),
    Column("member_id", String(64), primary_key=True),
    Column("role", String(20), nullable=False),
)

accounts = Table(
    "accounts",
    metadata,
    Column("alliance_id", String(64), primary_key=True),
    Column("owner_id", String(64), primary_key=True),
    Column("balance_cents", BigInteger, nullable=False),
    Column("given_cents", BigInteger, nullable=False),
    Column("received_cents", BigInteger, nullable=False),
    Column("version", Integer, nullable=False),
    Column("light", String(6), nullable=False, server_default="green"),
    Column("opened_at", UtcDateTime, nullable=True),
    Column("last_given_at", UtcDateTime, nullable=True),
)
# The inactivity review's queue: green accounts of an alliance by the time of their last gift (or opening),
# so a round reads only the accounts whose window has run out (`SqlAccounts.turning_inactive`).
Index(
    "ix_accounts_activity",
    accounts.c.alliance_id,
    accounts.c.light,
    func.coalesce(accounts.c.last_given_at, accounts.c.opened_at),
)

contributions = Table(
    "contributions",
    metadata,
    Column("contribution_id", String(64), primary_key=True),
    Column("alliance_id", String(64), nullable=False),
    Column("sequence", Integer, nullable=False),
    Column("giver_id", String(64), nullable=False),
    Column("receiver_id", String(64), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("value_cents", BigInteger, nullable=False),
    Column("note", Text, nullable=False),
    Column("recorded_at", UtcDateTime, nullable=False),
    Column("reverses", String(64), nullable=True, unique=True),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Column("giver_balance_cents", BigInteger, nullable=False),
    Column("receiver_balance_cents", BigInteger, nullable=False),
    UniqueConstraint("alliance_id", "sequence", name="uq_contributions_chain"),
)

entries = Table(
    "entries",
    metadata,
    Column("alliance_id", String(64), primary_key=True),
    Column("owner_id", String(64), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("contribution_id", String(64), nullable=False),
    Column("amount_cents", BigInteger, nullable=False),
    Column("balance_before_cents", BigInteger, nullable=False),
    Column("balance_after_cents", BigInteger, nullable=False),
)
# No foreign keys: each one is an index probe and a row lock per entry, more than half of what writing the
# entries costs the intake. Entries are written only with their contribution and accounts, in one
# transaction, and `ledger verify` proves every entry's contribution and account (domain/verification.py).
Index("ix_entries_contribution", entries.c.contribution_id)

flows = Table(
    "flows",
    metadata,
    Column("alliance_id", String(64), primary_key=True),
    Column("giver_id", String(64), primary_key=True),
    Column("receiver_id", String(64), primary_key=True),
    Column("kind", String(20), primary_key=True),
    Column("value_cents", BigInteger, nullable=False),
    Column("contributions", Integer, nullable=False),
)
"""Net value and number of contributions per (alliance, giver, receiver, kind), reversals subtracted: kept with
every batch of contributions in the same transaction (`SqlContributions.add`), so the flow matrix and the
alliance's health read a few hundred rows however long the history."""

verify_checkpoints = Table(
    "verify_checkpoints",
    metadata,
    Column("alliance_id", String(64), primary_key=True),
    Column("sequence", Integer, nullable=False),
    Column("chain_head", String(64), nullable=False),
    Column("accounts", Text, nullable=False),  # JSON: owner -> [version, balance in cents] at that sequence
    Column("verified_at", UtcDateTime, nullable=False),
)
"""Where each alliance's books were last verified: a routine `ledger verify` checks only what came after."""

verify_runs = Table(
    "verify_runs",
    metadata,
    Column("run_id", String(64), primary_key=True),
    Column("from_genesis", Boolean, nullable=False),  # a --full run
    Column("state", String(10), nullable=False),
    Column("alliances_total", Integer, nullable=False),
    Column("started_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("finished_at", UtcDateTime, nullable=True),
    Column("lease_until", UtcDateTime, nullable=False),
)
Index("ix_verify_runs_state", verify_runs.c.state, verify_runs.c.lease_until)

verify_run_alliances = Table(
    "verify_run_alliances",
    metadata,
    Column("run_id", String(64), primary_key=True),
    Column("alliance_id", String(64), primary_key=True),
    Column("done", Boolean, nullable=False),
    Column("sequence", Integer, nullable=False),  # the walk's position: resumed from here
    Column("chain_head", String(64), nullable=False),
    Column("accounts", Text, nullable=False),
    Column("contributions", BigInteger, nullable=False),
    Column("entries", BigInteger, nullable=False),
    Column("problems", Text, nullable=False),  # JSON list of the findings so far
)
"""A verification run's alliances and each one's walk so far: a run resumes after a restart where it stood."""

pending_contributions = Table(
    "pending_contributions",
    metadata,
    Column("contribution_id", String(64), primary_key=True),
    Column("alliance_id", String(64), nullable=False),
    Column("giver_id", String(64), nullable=False),
    Column("receiver_id", String(64), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("value_cents", BigInteger, nullable=False),
    Column("note", Text, nullable=False),
    Column("recorded_by", String(64), nullable=False),
    Column("submitted_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("status", String(10), nullable=False),
    Column("decided_by", String(64), nullable=True),
    Column("decided_at", UtcDateTime, nullable=True),
    Column("reason", Text, nullable=False),
)
Index("ix_pending_due", pending_contributions.c.status, pending_contributions.c.expires_at)
Index("ix_pending_alliance", pending_contributions.c.alliance_id, pending_contributions.c.status)

messaging = define_messaging_tables(metadata)
