"""flow aggregates, the inactivity queue and verification checkpoints

``flows`` keeps net value and count per (alliance, giver, receiver, kind), maintained with every batch of
contributions and filled here from the contributions booked so far. ``ix_accounts_activity`` lets the
inactivity review read only green accounts whose last gift (or opening) lies beyond the window. Verification
runs are jobs (``verify_runs``, ``verify_run_alliances``) that start from each alliance's last verified
checkpoint (``verify_checkpoints``).

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
        'flows',
        sa.Column('alliance_id', sa.String(length=64), nullable=False),
        sa.Column('giver_id', sa.String(length=64), nullable=False),
        sa.Column('receiver_id', sa.String(length=64), nullable=False),
        sa.Column('kind', sa.String(length=20), nullable=False),
        sa.Column('value_cents', sa.BigInteger(), nullable=False),
        sa.Column('contributions', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('alliance_id', 'giver_id', 'receiver_id', 'kind'),
    )
    op.execute(
        "INSERT INTO flows (alliance_id, giver_id, receiver_id, kind, value_cents, contributions) "
        "SELECT alliance_id, giver_id, receiver_id, kind, "
        "sum(CASE WHEN reverses IS NULL THEN value_cents ELSE -value_cents END), "
        "sum(CASE WHEN reverses IS NULL THEN 1 ELSE -1 END) "
        "FROM contributions GROUP BY alliance_id, giver_id, receiver_id, kind"
    )
    op.create_index(
        'ix_accounts_activity', 'accounts', ['alliance_id', 'light', sa.text('coalesce(last_given_at, opened_at)')]
    )
    op.create_table(
        'verify_checkpoints',
        sa.Column('alliance_id', sa.String(length=64), nullable=False),
        sa.Column('sequence', sa.Integer(), nullable=False),
        sa.Column('chain_head', sa.String(length=64), nullable=False),
        sa.Column('accounts', sa.Text(), nullable=False),
        sa.Column('verified_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('alliance_id'),
    )
    op.create_table(
        'verify_runs',
        sa.Column('run_id', sa.String(length=64), nullable=False),
        sa.Column('from_genesis', sa.Boolean(), nullable=False),
        sa.Column('state', sa.String(length=10), nullable=False),
        sa.Column('alliances_total', sa.Integer(), nullable=False),
        sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('lease_until', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('run_id'),
    )
    op.create_index('ix_verify_runs_state', 'verify_runs', ['state', 'lease_until'])
    op.create_table(
        'verify_run_alliances',
        sa.Column('run_id', sa.String(length=64), nullable=False),
        sa.Column('alliance_id', sa.String(length=64), nullable=False),
        sa.Column('done', sa.Boolean(), nullable=False),
        sa.Column('sequence', sa.Integer(), nullable=False),
        sa.Column('chain_head', sa.String(length=64), nullable=False),
        sa.Column('accounts', sa.Text(), nullable=False),
        sa.Column('contributions', sa.BigInteger(), nullable=False),
        sa.Column('entries', sa.BigInteger(), nullable=False),
        sa.Column('problems', sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint('run_id', 'alliance_id'),
    )


def downgrade() -> None:
    op.drop_table('verify_run_alliances')
    op.drop_index('ix_verify_runs_state', table_name='verify_runs')
    op.drop_table('verify_runs')
    op.drop_table('verify_checkpoints')
    op.drop_index('ix_accounts_activity', table_name='accounts')
    op.drop_table('flows')
