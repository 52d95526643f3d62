"""contact time zone

Each contact's time zone, as the members service announces it (``member-profile-updated``): the zone mail shows
its times in and the member's quiet hours are kept in. Contacts known before keep Europe/Berlin, the zone of
every member whose profile names none.

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
    op.add_column(
        'contacts',
        sa.Column('timezone', sa.String(length=64), nullable=False, server_default='Europe/Berlin'),
    )


def downgrade() -> None:
    with op.batch_alter_table('contacts') as batch:
        batch.drop_column('timezone')
