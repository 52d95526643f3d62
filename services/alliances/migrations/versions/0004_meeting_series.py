"""meeting series: agenda, recurrence rule, cancellation, moved or cancelled occurrences, attendance

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
    with op.batch_alter_table('meetings') as table:
        table.add_column(sa.Column('agenda', sa.Text(), nullable=False, server_default=''))
        table.add_column(sa.Column('rrule', sa.String(length=500), nullable=True))
        table.add_column(sa.Column('cancelled_at', sa.DateTime(timezone=True), nullable=True))
        table.add_column(sa.Column('cancelled_by', sa.String(length=64), nullable=True))
        table.add_column(sa.Column('cancel_reason', sa.Text(), nullable=False, server_default=''))
    op.create_table(
        'meeting_exceptions',
        sa.Column('meeting_id', sa.String(length=64), nullable=False),
        sa.Column('recurrence_id', sa.DateTime(timezone=False), nullable=False),
        sa.Column('cancelled', sa.Boolean(), nullable=False),
        sa.Column('decided_by', sa.String(length=64), nullable=False),
        sa.Column('starts_at', sa.DateTime(timezone=False), nullable=True),
        sa.Column('duration_minutes', sa.Integer(), nullable=True),
        sa.Column('location', sa.String(length=500), nullable=True),
        sa.Column('reason', sa.Text(), nullable=False, server_default=''),
        sa.ForeignKeyConstraint(['meeting_id'], ['meetings.meeting_id']),
        sa.PrimaryKeyConstraint('meeting_id', 'recurrence_id'),
    )
    op.create_table(
        'meeting_attendance',
        sa.Column('meeting_id', sa.String(length=64), nullable=False),
        sa.Column('recurrence_id', sa.DateTime(timezone=False), nullable=False),
        sa.Column('attended_ids', sa.JSON(), nullable=False),
        sa.Column('absent_ids', sa.JSON(), nullable=False),
        sa.Column('recorded_by', sa.String(length=64), nullable=False),
        sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['meeting_id'], ['meetings.meeting_id']),
        sa.PrimaryKeyConstraint('meeting_id', 'recurrence_id'),
    )


def downgrade() -> None:
    op.drop_table('meeting_attendance')
    op.drop_table('meeting_exceptions')
    with op.batch_alter_table('meetings') as table:
        for column in ('cancel_reason', 'cancelled_by', 'cancelled_at', 'rrule', 'agenda'):
            table.drop_column(column)
