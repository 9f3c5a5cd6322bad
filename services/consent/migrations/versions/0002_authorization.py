"""authorization: policy owner, who registered an individual, data consumers, webhook owner, proof bindings

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27

Existing rows: a policy used by agreements of one controller gets that controller as owner (the seeded ones
do); a webhook whose target is an IM service gets the member of that service as owner; the rest stay the
operator's (None).
"""

from urllib.parse import unquote

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("consent_policy", schema=None) as batch_op:
        batch_op.add_column(sa.Column("owner", sa.String(length=64), nullable=True))
    with op.batch_alter_table("consent_individual", schema=None) as batch_op:
        batch_op.add_column(sa.Column("registered_by", sa.String(length=64), nullable=True))
    with op.batch_alter_table("consent_data_agreement", schema=None) as batch_op:
        batch_op.add_column(sa.Column("data_consumers", sa.JSON(), nullable=True))
    with op.batch_alter_table("consent_webhook", schema=None) as batch_op:
        batch_op.add_column(sa.Column("owner", sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f("ix_consent_webhook_owner"), ["owner"], unique=False)
    op.create_table(
        "consent_individual_subject",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("individual_id", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=255), nullable=False),
        sa.Column("sub", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_individual_subject")),
        sa.UniqueConstraint("individual_id", "client_id", "sub", name="uq_consent_individual_subject"),
    )
    with op.batch_alter_table("consent_individual_subject", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_consent_individual_subject_individual_id"), ["individual_id"], unique=False
        )
    _backfill_policy_owners()
    _backfill_webhook_owners()


def _backfill_policy_owners() -> None:
    op.execute(
        """
        UPDATE consent_policy SET owner = (
            SELECT MIN(a.controller_id) FROM consent_data_agreement a WHERE a.policy_id = consent_policy.id
        )
        WHERE owner IS NULL AND (
            SELECT COUNT(DISTINCT a.controller_id) FROM consent_data_agreement a WHERE a.policy_id = consent_policy.id
        ) = 1
        """
    )


def _backfill_webhook_owners() -> None:
    connection = op.get_bind()
    for hook_id, url in connection.execute(sa.text("SELECT id, payload_url FROM consent_webhook")).all():
        _, found, rest = str(url).partition("/r1/")
        segments = [unquote(s) for s in rest.split("/")[:3]]
        if found and len(segments) == 3 and all(segments):
            connection.execute(
                sa.text("UPDATE consent_webhook SET owner = :owner WHERE id = :id"),
                {"owner": "/".join(segments), "id": hook_id},
            )


def downgrade() -> None:
    with op.batch_alter_table("consent_individual_subject", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_consent_individual_subject_individual_id"))
    op.drop_table("consent_individual_subject")
    with op.batch_alter_table("consent_webhook", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_consent_webhook_owner"))
        batch_op.drop_column("owner")
    with op.batch_alter_table("consent_data_agreement", schema=None) as batch_op:
        batch_op.drop_column("data_consumers")
    with op.batch_alter_table("consent_individual", schema=None) as batch_op:
        batch_op.drop_column("registered_by")
    with op.batch_alter_table("consent_policy", schema=None) as batch_op:
        batch_op.drop_column("owner")
