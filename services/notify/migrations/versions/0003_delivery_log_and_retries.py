"""delivery log and retries

Deliveries remember the event they were written for (``caused_by``, named in ``notification-failed``) and when
an operator queued a failed one again (``requeued_at``, where its retry horizon starts afresh); two indexes
serve the delivery log (newest first, overall and per member). Status may now also be ``suppressed``.

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
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('caused_by', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('requeued_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index('ix_deliveries_log', ['created_at', 'delivery_id'], unique=False)
        batch_op.create_index('ix_deliveries_member_log', ['member_id', 'created_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_deliveries_member_log')
        batch_op.drop_index('ix_deliveries_log')
        batch_op.drop_column('requeued_at')
        batch_op.drop_column('caused_by')
