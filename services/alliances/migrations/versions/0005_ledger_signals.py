"""ledger signals: each member's last light and balance, each alliance's one-way flows

Revision ID: 0005
Revises: 0004
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'ledger_lights',
        sa.Column('alliance_id', sa.String(length=64), nullable=False),
        sa.Column('member_id', sa.String(length=64), nullable=False),
        sa.Column('light', sa.String(length=10), nullable=False),
        sa.Column('balance', sa.Numeric(precision=18, scale=2), nullable=False),
        sa.Column('reason', sa.String(length=20), nullable=False),
        sa.Column('since', sa.DateTime(timezone=True), nullable=False),
        sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('alliance_id', 'member_id'),
    )
    op.create_table(
        'ledger_flows',
        sa.Column('alliance_id', sa.String(length=64), nullable=False),
        sa.Column('period_start', sa.DateTime(timezone=True), nullable=False),
        sa.Column('one_way_since', sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint('alliance_id'),
    )


def downgrade() -> None:
    op.drop_table('ledger_flows')
    op.drop_table('ledger_lights')
