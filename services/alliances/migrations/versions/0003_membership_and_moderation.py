"""membership and moderation: founders, size limit, archive, membership statuses, focus for alignment

Revision ID: 0003
Revises: 0002
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('alliances') as table:
        table.add_column(sa.Column('requires_confirmation', sa.Boolean(), nullable=False, server_default=sa.false()))
        table.add_column(sa.Column('size_limit', sa.Integer(), nullable=True))
        table.add_column(sa.Column('alignment_threshold', sa.Integer(), nullable=False, server_default='30'))
        table.add_column(sa.Column('archived_at', sa.DateTime(timezone=True), nullable=True))
        table.add_column(sa.Column('archived_by', sa.String(length=64), nullable=True))
    with op.batch_alter_table('memberships') as table:
        table.add_column(sa.Column('status', sa.String(length=20), nullable=False, server_default='member'))
        table.add_column(sa.Column('decided_by', sa.String(length=64), nullable=True))
        table.add_column(sa.Column('reason', sa.Text(), nullable=False, server_default=''))
        table.add_column(sa.Column('message', sa.Text(), nullable=False, server_default=''))
        table.add_column(sa.Column('admitted_via', sa.String(length=20), nullable=True))
    op.create_index('ix_memberships_member', 'memberships', ['member_id', 'alliance_id'])
    with op.batch_alter_table('known_members') as table:
        table.add_column(sa.Column('focus', sa.JSON(), nullable=True))
    focus = op.create_table(
        'alliance_focus',
        sa.Column('alliance_id', sa.String(length=64), nullable=False),
        sa.Column('tag', sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(['alliance_id'], ['alliances.alliance_id']),
        sa.PrimaryKeyConstraint('alliance_id', 'tag'),
    )
    op.create_index('ix_alliance_focus_tag', 'alliance_focus', ['tag', 'alliance_id'])
    alliances = sa.table('alliances', sa.column('alliance_id', sa.String()), sa.column('focus', sa.JSON()))
    rows = op.get_bind().execute(sa.select(alliances.c.alliance_id, alliances.c.focus)).all()
    tags = [{'alliance_id': row.alliance_id, 'tag': tag} for row in rows for tag in dict.fromkeys(row.focus or [])]
    if tags:
        op.bulk_insert(focus, tags)


def downgrade() -> None:
    op.drop_index('ix_alliance_focus_tag', table_name='alliance_focus')
    op.drop_table('alliance_focus')
    with op.batch_alter_table('known_members') as table:
        table.drop_column('focus')
    op.drop_index('ix_memberships_member', table_name='memberships')
    # Only members were kept before: the rest of the roster cannot be kept.
    op.execute("DELETE FROM memberships WHERE status <> 'member'")
    with op.batch_alter_table('memberships') as table:
        for column in ('admitted_via', 'message', 'reason', 'decided_by', 'status'):
            table.drop_column(column)
    with op.batch_alter_table('alliances') as table:
        for column in ('archived_by', 'archived_at', 'alignment_threshold', 'size_limit', 'requires_confirmation'):
            table.drop_column(column)
