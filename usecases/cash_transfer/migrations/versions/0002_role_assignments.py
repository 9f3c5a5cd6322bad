"""role assignments, beneficiary subject, login proof

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 18:51:13.272624

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "usct_role_assignment",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("role", sa.String(length=40), nullable=False),
        sa.Column("vid", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("name_key", sa.String(length=200), nullable=False),
        sa.Column("sub", sa.String(length=200), nullable=True),
        sa.Column("granted_by", sa.String(length=200), nullable=False),
        sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("bound_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_by", sa.String(length=200), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usct_role_assignment")),
    )
    with op.batch_alter_table("usct_role_assignment", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_usct_role_assignment_name_key"), ["name_key"], unique=False)
        batch_op.create_index(batch_op.f("ix_usct_role_assignment_sub"), ["sub"], unique=False)
        batch_op.create_index(batch_op.f("ix_usct_role_assignment_vid"), ["vid"], unique=False)

    with op.batch_alter_table("usct_candidate", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sub", sa.String(length=200), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_usct_candidate_sub"), ["sub"])

    with op.batch_alter_table("usct_session", schema=None) as batch_op:
        batch_op.add_column(sa.Column("proof", sa.Text(), nullable=True))

    # Sessions opened before hold roles granted by e-mail: every user logs in again.
    op.execute(sa.table("usct_session").delete())


def downgrade() -> None:
    with op.batch_alter_table("usct_session", schema=None) as batch_op:
        batch_op.drop_column("proof")

    with op.batch_alter_table("usct_candidate", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_usct_candidate_sub"), type_="unique")
        batch_op.drop_column("sub")

    with op.batch_alter_table("usct_role_assignment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_usct_role_assignment_vid"))
        batch_op.drop_index(batch_op.f("ix_usct_role_assignment_sub"))
        batch_op.drop_index(batch_op.f("ix_usct_role_assignment_name_key"))

    op.drop_table("usct_role_assignment")
