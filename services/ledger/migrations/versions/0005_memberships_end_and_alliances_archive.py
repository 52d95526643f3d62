"""memberships end and alliances are archived

A member who left or was removed loses their membership row (their account and entries stay); the books
count departures so that the intake notices a batch booked before one. An archived alliance takes no
contributions.

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
    with op.batch_alter_table('ledger_alliances') as table:
        table.add_column(sa.Column('archived', sa.Boolean(), nullable=False, server_default=sa.false()))
        table.add_column(sa.Column('departures', sa.Integer(), nullable=False, server_default='0'))


def downgrade() -> None:
    with op.batch_alter_table('ledger_alliances') as table:
        table.drop_column('departures')
        table.drop_column('archived')
