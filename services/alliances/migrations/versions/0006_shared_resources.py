"""shared resources: each alliance's catalogue and the recorded uses

Revision ID: 0006
Revises: 0005
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'resources',
        sa.Column('resource_id', sa.String(length=64), nullable=False),
        sa.Column('alliance_id', sa.String(length=64), nullable=False),
        sa.Column('kind', sa.String(length=20), nullable=False),
        sa.Column('title', sa.String(length=200), nullable=False),
        sa.Column('description', sa.Text(), nullable=False),
        sa.Column('link', sa.String(length=500), nullable=False),
        sa.Column('owner_id', sa.String(length=64), nullable=False),
        sa.Column('added_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('removed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('removed_by', sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(['alliance_id'], ['alliances.alliance_id']),
        sa.PrimaryKeyConstraint('resource_id'),
    )
    op.create_index('ix_resources_alliance', 'resources', ['alliance_id', 'resource_id'])
    op.create_table(
        'resource_uses',
        sa.Column('use_id', sa.String(length=64), nullable=False),
        sa.Column('resource_id', sa.String(length=64), nullable=False),
        sa.Column('used_by', sa.String(length=64), nullable=False),
        sa.Column('note', sa.Text(), nullable=False),
        sa.Column('used_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['resource_id'], ['resources.resource_id']),
        sa.PrimaryKeyConstraint('use_id'),
    )
    op.create_index('ix_resource_uses_resource_id', 'resource_uses', ['resource_id'])


def downgrade() -> None:
    op.drop_index('ix_resource_uses_resource_id', table_name='resource_uses')
    op.drop_table('resource_uses')
    op.drop_index('ix_resources_alliance', table_name='resources')
    op.drop_table('resources')
