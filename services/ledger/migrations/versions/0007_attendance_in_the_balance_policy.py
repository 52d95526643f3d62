"""attendance in the balance policy: whether recorded attendance is booked, and what it is worth

Revision ID: 0007
Revises: 0006
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('ledger_alliances') as table:
        table.add_column(sa.Column('book_attendance', sa.Boolean(), nullable=False, server_default=sa.false()))
        table.add_column(
            sa.Column('attendance_points_cents', sa.BigInteger(), nullable=False, server_default='100')
        )


def downgrade() -> None:
    with op.batch_alter_table('ledger_alliances') as table:
        table.drop_column('attendance_points_cents')
        table.drop_column('book_attendance')
