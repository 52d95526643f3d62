"""alliance moderators

Who moderates each alliance, as the alliances service announces it (alliance-created, member-joined,
role-changed, member-left, member-removed): requests to join are mailed to them.

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
    op.create_table('alliance_moderators',
    sa.Column('alliance_id', sa.String(length=64), nullable=False),
    sa.Column('member_id', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('alliance_id', 'member_id')
    )


def downgrade() -> None:
    op.drop_table('alliance_moderators')
