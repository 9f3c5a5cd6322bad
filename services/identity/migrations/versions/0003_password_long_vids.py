"""an alphanumeric knowledge factor (password) per identity; VIDs up to 64 characters

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 10:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("idn_identity", schema=None) as batch_op:
        batch_op.add_column(sa.Column("password_hash", sa.String(length=255), nullable=True))
    with op.batch_alter_table("idn_vid", schema=None) as batch_op:
        batch_op.alter_column(
            "vid", existing_type=sa.String(length=16), type_=sa.String(length=64), existing_nullable=False
        )


def downgrade() -> None:
    with op.batch_alter_table("idn_vid", schema=None) as batch_op:
        batch_op.alter_column(
            "vid", existing_type=sa.String(length=64), type_=sa.String(length=16), existing_nullable=False
        )
    with op.batch_alter_table("idn_identity", schema=None) as batch_op:
        batch_op.drop_column("password_hash")
