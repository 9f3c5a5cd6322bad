"""federation: the instances this one federates with, as declared (for the directory)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 19:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "im_federated_instance",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=128), nullable=False),
        sa.Column("declaration", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_im_federated_instance")),
        sa.UniqueConstraint("code", name=op.f("uq_im_federated_instance_code")),
    )


def downgrade() -> None:
    op.drop_table("im_federated_instance")
