"""identity lockout counters, unique e-mail, verification questions (audit trail and quota)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 10:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_identities = sa.table(
    "idn_identity", sa.column("id", sa.Integer), sa.column("attributes", sa.JSON), sa.column("email_key", sa.String)
)


def upgrade() -> None:
    with op.batch_alter_table("idn_identity", schema=None) as batch_op:
        batch_op.add_column(sa.Column("email_key", sa.String(length=256), nullable=True))
        batch_op.add_column(sa.Column("auth_failures", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("auth_lockouts", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True))
    _fill_email_keys()
    with op.batch_alter_table("idn_identity", schema=None) as batch_op:
        batch_op.create_unique_constraint(batch_op.f("uq_idn_identity_email_key"), ["email_key"])

    op.create_table(
        "idn_verification_question",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("caller", sa.String(length=256), nullable=False),
        sa.Column("identity_id", sa.Integer(), nullable=True),
        sa.Column("request_id", sa.String(length=128), nullable=False),
        sa.Column("predicate", sa.String(length=32), nullable=False),
        sa.Column("question_hash", sa.String(length=64), nullable=False),
        sa.Column("refused", sa.Boolean(), nullable=False),
        sa.Column("asked_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idn_verification_question")),
    )
    with op.batch_alter_table("idn_verification_question", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_idn_verification_question_identity_id"), ["identity_id"], unique=False)
        batch_op.create_index("ix_idn_verification_question_quota", ["caller", "identity_id", "asked_at"], unique=False)


def _fill_email_keys() -> None:
    """Existing identities get their address's key; where several share one (possible before this revision),
    the oldest keeps it and the others get none, to be corrected by an UPDATE enrollment."""
    connection = op.get_bind()
    taken: set[str] = set()
    for identity_id, attributes in connection.execute(
        sa.select(_identities.c.id, _identities.c.attributes).order_by(_identities.c.id)
    ):
        email = (attributes or {}).get("email")
        key = email.strip().lower() if isinstance(email, str) else ""
        if key and key not in taken:
            taken.add(key)
            connection.execute(_identities.update().where(_identities.c.id == identity_id).values(email_key=key))


def downgrade() -> None:
    with op.batch_alter_table("idn_verification_question", schema=None) as batch_op:
        batch_op.drop_index("ix_idn_verification_question_quota")
        batch_op.drop_index(batch_op.f("ix_idn_verification_question_identity_id"))
    op.drop_table("idn_verification_question")
    with op.batch_alter_table("idn_identity", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_idn_identity_email_key"), type_="unique")
        batch_op.drop_column("locked_until")
        batch_op.drop_column("auth_lockouts")
        batch_op.drop_column("auth_failures")
        batch_op.drop_column("email_key")
