"""mail preferences

Each member's mail preferences per category and the token of their unsubscribe links, as the members service
announces them (``member-preferences-changed``).

Revision ID: 0004
Revises: 0003
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('mail_preferences',
    sa.Column('member_id', sa.String(length=64), nullable=False),
    sa.Column('balance', sa.Boolean(), nullable=False),
    sa.Column('meetings', sa.Boolean(), nullable=False),
    sa.Column('membership', sa.Boolean(), nullable=False),
    sa.Column('digest', sa.Boolean(), nullable=False),
    sa.Column('unsubscribe_token', sa.String(length=128), nullable=False),
    sa.PrimaryKeyConstraint('member_id')
    )


def downgrade() -> None:
    op.drop_table('mail_preferences')
