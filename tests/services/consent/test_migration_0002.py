"""Migration 0002 gives existing policies and webhooks their owners, so an upgraded sandbox keeps working:
a policy used by one controller's agreements becomes that controller's, a webhook on an IM service that
service's member's; the rest stay the operator's."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text

from services.common.database import Database
from tests.support import fresh_database

MIGRATIONS = Path(__file__).resolve().parents[3] / "services" / "consent" / "migrations"
AGREEMENT = (
    "INSERT INTO consent_data_agreement (id, version, controller_id, policy_id, purpose, lawful_basis, dpia, active,"
    " forgettable, data_attributes, deleted, created_at)"
    " VALUES (:id, '1', :controller, :policy, 'p', 'consent', '', true, false, '[]', false, CURRENT_TIMESTAMP)"
)


def upgrade(db: Database, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with db.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def test_existing_policies_and_webhooks_get_their_owners(tmp_path):
    with fresh_database(tmp_path, "consent") as fields:
        db = Database(fields["database_url"], fields["database_schema"])
        try:
            db.ensure_schema()
            upgrade(db, "0001")
            with db.engine.begin() as connection:
                for policy in ("p-one", "p-shared", "p-unused"):
                    connection.execute(
                        text(
                            "INSERT INTO consent_policy (id, name, version, url, deleted, created_at)"
                            " VALUES (:id, 'n', '1', 'u', false, CURRENT_TIMESTAMP)"
                        ),
                        {"id": policy},
                    )
                for agreement, controller, policy in (
                    ("a1", "SANDBOX/GOV/SOCIAL-WELFARE", "p-one"),
                    ("a2", "SANDBOX/GOV/SOCIAL-WELFARE", "p-one"),
                    ("a3", "SANDBOX/GOV/SOCIAL-WELFARE", "p-shared"),
                    ("a4", "SANDBOX/GOV/MUNICIPALITY", "p-shared"),
                ):
                    connection.execute(text(AGREEMENT), {"id": agreement, "controller": controller, "policy": policy})
                for hook, url in (
                    ("h-im", "http://127.0.0.1:8000/r1/SANDBOX/GOV/SOCIAL-WELFARE/USCT/callbacks/consent"),
                    ("h-out", "https://receiver.example/hook"),
                ):
                    connection.execute(
                        text(
                            "INSERT INTO consent_webhook (id, payload_url, content_type, disabled, secret_encrypted,"
                            " subscribed_events, created_at) VALUES (:id, :url, 'application/json', false, 's', '[]',"
                            " CURRENT_TIMESTAMP)"
                        ),
                        {"id": hook, "url": url},
                    )
            upgrade(db, "head")
            with db.engine.connect() as connection:
                policies = dict(connection.execute(text("SELECT id, owner FROM consent_policy")).all())
                hooks = dict(connection.execute(text("SELECT id, owner FROM consent_webhook")).all())
        finally:
            db.dispose()
    assert policies == {"p-one": "SANDBOX/GOV/SOCIAL-WELFARE", "p-shared": None, "p-unused": None}
    assert hooks == {"h-im": "SANDBOX/GOV/SOCIAL-WELFARE", "h-out": None}
