"""weekly digest

What the weekly digest for moderators shows, kept from the events notify follows: each member's traffic light
(balance-warning, balance-recovered), each alliance's latest health figure (alliance-health), requests to join
and their answers, the meetings as they stand, and which alliances are archived (they get no digest).

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
    # A week's digest goes to the alliances founded by the hour it fell due: not, minutes after its founding,
    # to a new one (and the same set in every notify instance, whenever it gets there in the week).
    op.add_column('alliance_names', sa.Column('founded_at', sa.DateTime(timezone=True), nullable=True))
    op.create_table('digest_lights',
    sa.Column('alliance_id', sa.String(length=64), nullable=False),
    sa.Column('member_id', sa.String(length=64), nullable=False),
    sa.Column('light', sa.String(length=6), nullable=False),
    sa.Column('as_of', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('alliance_id', 'member_id')
    )
    op.create_table('digest_health',
    sa.Column('alliance_id', sa.String(length=64), nullable=False),
    sa.Column('period_start', sa.DateTime(timezone=True), nullable=False),
    sa.Column('figure', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('alliance_id')
    )
    op.create_table('digest_requests',
    sa.Column('alliance_id', sa.String(length=64), nullable=False),
    sa.Column('member_id', sa.String(length=64), nullable=False),
    sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('alliance_id', 'member_id')
    )
    op.create_table('digest_meetings',
    sa.Column('meeting_id', sa.String(length=64), nullable=False),
    sa.Column('alliance_id', sa.String(length=64), nullable=False),
    sa.Column('sequence', sa.Integer(), nullable=False),
    sa.Column('cancelled', sa.Boolean(), nullable=False),
    sa.Column('plan', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('meeting_id')
    )
    op.create_index(op.f('ix_digest_meetings_alliance_id'), 'digest_meetings', ['alliance_id'], unique=False)
    op.create_table('archived_alliances',
    sa.Column('alliance_id', sa.String(length=64), nullable=False),
    sa.Column('archived_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('alliance_id')
    )


def downgrade() -> None:
    op.drop_table('archived_alliances')
    op.drop_index(op.f('ix_digest_meetings_alliance_id'), table_name='digest_meetings')
    op.drop_table('digest_meetings')
    op.drop_table('digest_requests')
    op.drop_table('digest_health')
    op.drop_table('digest_lights')
    with op.batch_alter_table('alliance_names') as batch:
        batch.drop_column('founded_at')
