"""conformance: request fingerprints (a reused request id must repeat the request), voucher issuers as data,
voucher redemption cycles (restored conformance fixtures)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

FINGERPRINTED = ("batches", "prepayment_validations", "mapper_requests")


def upgrade() -> None:
    for table in FINGERPRINTED:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("request_hash", sa.String(length=64), nullable=True))
    with op.batch_alter_table("vouchers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("cycle", sa.Integer(), server_default="0", nullable=False))
    op.create_table(
        "voucher_issuers",
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_voucher_issuers")),
    )


def downgrade() -> None:
    op.drop_table("voucher_issuers")
    with op.batch_alter_table("vouchers", schema=None) as batch_op:
        batch_op.drop_column("cycle")
    for table in FINGERPRINTED:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("request_hash")
