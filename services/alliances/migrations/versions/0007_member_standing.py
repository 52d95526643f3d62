"""member standing: each known member's standing in the network (active, suspended, left, erased)

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
    with op.batch_alter_table('known_members') as table:
        table.add_column(sa.Column('standing', sa.String(length=20), nullable=False, server_default='active'))
    # An erased member was marked by an empty name; suspensions and departures before this revision were not
    # kept, so those members read as active until the members service says otherwise.
    op.execute("UPDATE known_members SET standing = 'erased' WHERE name = ''")


def downgrade() -> None:
    with op.batch_alter_table('known_members') as table:
        table.drop_column('standing')
