"""message log: the client's offered message id as correlation id

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 16:30:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Existing records keep NULL, which the hash chain leaves out: they still verify.
    with op.batch_alter_table("im_message_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("correlation_id", sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f("ix_im_message_log_correlation_id"), ["correlation_id"], unique=False)


def downgrade() -> None:
    # Records that carried a correlation id no longer verify without it: their hash covers it.
    with op.batch_alter_table("im_message_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_im_message_log_correlation_id"))
        batch_op.drop_column("correlation_id")
