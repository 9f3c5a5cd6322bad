"""notification inbox, SSO sessions, back-channel logout URIs, blocked factors, resident events

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 22:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "idn_notification",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("identity_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("address", sa.String(length=256), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["identity_id"], ["idn_identity.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_idn_notification_identity_id"), "idn_notification", ["identity_id"], unique=False)
    op.create_table(
        "idn_session",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("identity_id", sa.Integer(), nullable=False),
        sa.Column("acr", sa.String(length=64), nullable=False),
        sa.Column("auth_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("clients", sa.JSON(), nullable=False),
        sa.Column("consents", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_idn_session_identity_id"), "idn_session", ["identity_id"], unique=False)
    op.create_table(
        "idn_event",
        sa.Column("event_id", sa.String(length=16), nullable=False),
        sa.Column("identity_id", sa.Integer(), nullable=False),
        sa.Column("event_type", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("summary", sa.String(length=256), nullable=False),
        sa.Column("info", sa.JSON(), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["identity_id"], ["idn_identity.id"]),
        sa.PrimaryKeyConstraint("event_id"),
    )
    op.create_index(op.f("ix_idn_event_identity_id"), "idn_event", ["identity_id"], unique=False)
    op.create_index(op.f("ix_idn_event_created_at"), "idn_event", ["created_at"], unique=False)
    with op.batch_alter_table("idn_identity", schema=None) as batch_op:
        batch_op.add_column(sa.Column("blocked_factors", sa.JSON(), server_default="{}", nullable=False))
    with op.batch_alter_table("idn_oidc_client", schema=None) as batch_op:
        batch_op.add_column(sa.Column("backchannel_logout_uri", sa.String(length=1024), nullable=True))
    with op.batch_alter_table("idn_auth_transaction", schema=None) as batch_op:
        batch_op.add_column(sa.Column("session_id", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("idn_auth_transaction", schema=None) as batch_op:
        batch_op.drop_column("session_id")
    with op.batch_alter_table("idn_oidc_client", schema=None) as batch_op:
        batch_op.drop_column("backchannel_logout_uri")
    with op.batch_alter_table("idn_identity", schema=None) as batch_op:
        batch_op.drop_column("blocked_factors")
    op.drop_index(op.f("ix_idn_event_created_at"), table_name="idn_event")
    op.drop_index(op.f("ix_idn_event_identity_id"), table_name="idn_event")
    op.drop_table("idn_event")
    op.drop_index(op.f("ix_idn_session_identity_id"), table_name="idn_session")
    op.drop_table("idn_session")
    op.drop_index(op.f("ix_idn_notification_identity_id"), table_name="idn_notification")
    op.drop_table("idn_notification")
