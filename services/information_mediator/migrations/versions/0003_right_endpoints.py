"""per-operation access rights: the endpoints a right is limited to

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 09:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Existing rights keep NULL: they cover their whole service, as before.
    with op.batch_alter_table("im_access_right", schema=None) as batch_op:
        batch_op.add_column(sa.Column("endpoints", sa.JSON(none_as_null=True), nullable=True))


def downgrade() -> None:
    # Without the column a limited right would cover its whole service: drop those rights instead.
    op.execute("DELETE FROM im_access_right WHERE endpoints IS NOT NULL")
    with op.batch_alter_table("im_access_right", schema=None) as batch_op:
        batch_op.drop_column("endpoints")
