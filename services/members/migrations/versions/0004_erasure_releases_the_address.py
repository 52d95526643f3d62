"""erasure releases the address

An erased member keeps their row (id, status ``erased``, registration time) without an address: the email column
becomes nullable (the unique constraint allows any number of NULLs on SQLite and PostgreSQL alike).

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
    with op.batch_alter_table('members') as batch:
        batch.alter_column('email', existing_type=sa.String(320), nullable=True)


def downgrade() -> None:
    # An erased member's address cannot come back; a placeholder keeps the row and the constraint.
    members = sa.table('members', sa.column('member_id', sa.String), sa.column('email', sa.String))
    op.get_bind().execute(
        members.update().where(members.c.email.is_(None)).values(email='erased-' + members.c.member_id + '@erased.example')
    )
    with op.batch_alter_table('members') as batch:
        batch.alter_column('email', existing_type=sa.String(320), nullable=False)
