"""balance policy, traffic lights and confirmation

Revision ID: 0002
Revises: 0001
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('ledger_alliances') as table:
        table.add_column(sa.Column('yellow_below_cents', sa.BigInteger(), nullable=True))
        table.add_column(sa.Column('floor_cents', sa.BigInteger(), nullable=True))
        table.add_column(sa.Column('inactivity_days', sa.Integer(), nullable=True))
        table.add_column(sa.Column('hysteresis_cents', sa.BigInteger(), nullable=False, server_default='100'))
        table.add_column(sa.Column('probation_limit_cents', sa.BigInteger(), nullable=True))
        table.add_column(
            sa.Column('requires_confirmation', sa.Boolean(), nullable=False, server_default=sa.false())
        )
        table.add_column(sa.Column('pending_expiry_hours', sa.Integer(), nullable=False, server_default='336'))
    with op.batch_alter_table('accounts') as table:
        table.add_column(sa.Column('light', sa.String(length=6), nullable=False, server_default='green'))
        table.add_column(sa.Column('opened_at', sa.DateTime(timezone=True), nullable=True))
        table.add_column(sa.Column('last_given_at', sa.DateTime(timezone=True), nullable=True))
    # A warned account was below the warning threshold, which is the policy's red threshold now.
    op.execute("UPDATE accounts SET light = 'red' WHERE warned")
    with op.batch_alter_table('accounts') as table:
        table.drop_column('warned')
    op.create_table(
        'pending_contributions',
        sa.Column('contribution_id', sa.String(length=64), nullable=False),
        sa.Column('alliance_id', sa.String(length=64), nullable=False),
        sa.Column('giver_id', sa.String(length=64), nullable=False),
        sa.Column('receiver_id', sa.String(length=64), nullable=False),
        sa.Column('kind', sa.String(length=20), nullable=False),
        sa.Column('value_cents', sa.BigInteger(), nullable=False),
        sa.Column('note', sa.Text(), nullable=False),
        sa.Column('recorded_by', sa.String(length=64), nullable=False),
        sa.Column('submitted_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('status', sa.String(length=10), nullable=False),
        sa.Column('decided_by', sa.String(length=64), nullable=True),
        sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint('contribution_id'),
    )
    op.create_index('ix_pending_due', 'pending_contributions', ['status', 'expires_at'])
    op.create_index('ix_pending_alliance', 'pending_contributions', ['alliance_id', 'status'])


def downgrade() -> None:
    op.drop_index('ix_pending_alliance', table_name='pending_contributions')
    op.drop_index('ix_pending_due', table_name='pending_contributions')
    op.drop_table('pending_contributions')
    with op.batch_alter_table('accounts') as table:
        table.add_column(sa.Column('warned', sa.Boolean(), nullable=False, server_default=sa.false()))
    op.execute("UPDATE accounts SET warned = (light = 'red')")
    with op.batch_alter_table('accounts') as table:
        table.drop_column('light')
        table.drop_column('opened_at')
        table.drop_column('last_given_at')
    with op.batch_alter_table('ledger_alliances') as table:
        for column in (
            'yellow_below_cents', 'floor_cents', 'inactivity_days', 'hysteresis_cents',
            'probation_limit_cents', 'requires_confirmation', 'pending_expiry_hours',
        ):
            table.drop_column(column)
