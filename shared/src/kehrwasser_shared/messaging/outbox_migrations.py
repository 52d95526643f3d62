"""Schema steps of the outbox that every service's migrations take alike (each service owns its database)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


def keep_only_unsent_rows() -> None:
    """Published rows are deleted instead of marked: drop those marked so far, ``sent_at`` and its index.

    Marking a row rewrote it (PostgreSQL writes a new version of the whole row, payload included) and kept it
    for good: at the ledger's intake rate, a gigabyte an hour of events that JetStream holds anyway.
    """
    op.drop_index("ix_outbox_unsent", table_name="outbox")
    op.execute("DELETE FROM outbox WHERE sent_at IS NOT NULL")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("sent_at")


def keep_sent_rows_again() -> None:
    """Downgrade: ``sent_at`` back (every row still there is unsent) with its index."""
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_outbox_unsent", "outbox", ["sent_at", "seq"], unique=False)
