"""outbox keeps only unsent rows

The outbox relay deletes a row once JetStream has stored its event, instead of setting ``sent_at``: the
table holds only what is still to be published (see `kehrwasser_shared.messaging.outbox_migrations`).

Revision ID: 0002
Revises: 0001
"""
from collections.abc import Sequence

from kehrwasser_shared.messaging.outbox_migrations import keep_only_unsent_rows, keep_sent_rows_again

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    keep_only_unsent_rows()


def downgrade() -> None:
    keep_sent_rows_again()
