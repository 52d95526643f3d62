"""profiles, preferences and status

Time zone, status (with who changed it last and why), mail preferences per category, an unsubscribe token,
a pending address change (the token's hash only), a sort key for names, and a focus-tag table for lists.
Existing members become active, in Europe/Berlin, with every category on and a fresh random unsubscribe token.

Revision ID: 0003
Revises: 0002
"""
import secrets
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CATEGORIES = ("balance", "meetings", "membership", "digest")


def upgrade() -> None:
    with op.batch_alter_table('members') as batch:
        batch.add_column(sa.Column('name_key', sa.String(200), nullable=True))
        batch.add_column(sa.Column('timezone', sa.String(64), nullable=False, server_default='Europe/Berlin'))
        batch.add_column(sa.Column('status', sa.String(16), nullable=False, server_default='active'))
        batch.add_column(sa.Column('status_changed_by', sa.String(64), nullable=True))
        batch.add_column(sa.Column('status_reason', sa.Text(), nullable=True))
        batch.add_column(sa.Column('status_changed_at', sa.DateTime(timezone=True), nullable=True))
        for category in CATEGORIES:
            batch.add_column(sa.Column(f'wants_{category}', sa.Boolean(), nullable=False, server_default=sa.true()))
        batch.add_column(sa.Column('unsubscribe_token', sa.String(128), nullable=True))
        batch.add_column(sa.Column('pending_email', sa.String(320), nullable=True))
        batch.add_column(sa.Column('email_token_hash', sa.String(64), nullable=True))
        batch.add_column(sa.Column('email_token_expires_at', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('updated_at', sa.DateTime(timezone=True), nullable=True))

    members = sa.table(
        'members',
        sa.column('member_id', sa.String),
        sa.column('name', sa.String),
        sa.column('name_key', sa.String),
        sa.column('focus', sa.JSON),
        sa.column('unsubscribe_token', sa.String),
        sa.column('registered_at', sa.DateTime(timezone=True)),
        sa.column('updated_at', sa.DateTime(timezone=True)),
    )
    connection = op.get_bind()
    rows = connection.execute(sa.select(members.c.member_id, members.c.name, members.c.focus)).all()
    for member_id, name, _ in rows:
        # The same key and token the service computes (kehrwasser_members.domain.model.name_key, handlers.new_token).
        connection.execute(
            members.update()
            .where(members.c.member_id == member_id)
            .values(name_key=name.casefold(), unsubscribe_token=secrets.token_urlsafe(32))
        )
    connection.execute(members.update().values(updated_at=members.c.registered_at))

    with op.batch_alter_table('members') as batch:
        batch.alter_column('name_key', existing_type=sa.String(200), nullable=False)
        batch.alter_column('unsubscribe_token', existing_type=sa.String(128), nullable=False)
        batch.alter_column('updated_at', existing_type=sa.DateTime(timezone=True), nullable=False)
        batch.create_unique_constraint('uq_members_unsubscribe_token', ['unsubscribe_token'])
        batch.create_unique_constraint('uq_members_email_token_hash', ['email_token_hash'])
        batch.create_index('ix_members_name_key', ['name_key', 'member_id'])
        batch.create_index('ix_members_status_name_key', ['status', 'name_key', 'member_id'])

    op.create_table(
        'member_focus',
        sa.Column('member_id', sa.String(64), sa.ForeignKey('members.member_id'), nullable=False),
        sa.Column('tag', sa.String(40), nullable=False),
        sa.PrimaryKeyConstraint('member_id', 'tag'),
    )
    op.create_index('ix_member_focus_tag', 'member_focus', ['tag', 'member_id'])
    focus = sa.table('member_focus', sa.column('member_id', sa.String), sa.column('tag', sa.String))
    tags = [{'member_id': member_id, 'tag': tag} for member_id, _, tags in rows for tag in dict.fromkeys(tags or [])]
    if tags:
        op.bulk_insert(focus, tags)


def downgrade() -> None:
    op.drop_index('ix_member_focus_tag', table_name='member_focus')
    op.drop_table('member_focus')
    with op.batch_alter_table('members') as batch:
        batch.drop_index('ix_members_status_name_key')
        batch.drop_index('ix_members_name_key')
        batch.drop_constraint('uq_members_email_token_hash', type_='unique')
        batch.drop_constraint('uq_members_unsubscribe_token', type_='unique')
        for column in (
            'updated_at', 'email_token_expires_at', 'email_token_hash', 'pending_email', 'unsubscribe_token',
            *(f'wants_{category}' for category in CATEGORIES),
            'status_changed_at', 'status_reason', 'status_changed_by', 'status', 'timezone', 'name_key',
        ):
            batch.drop_column(column)
