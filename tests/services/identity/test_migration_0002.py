"""Migration 0002 keys the e-mail addresses of existing identities, even where two already share one."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text

from services.common.database import Database
from tests.support import fresh_database

MIGRATIONS = Path(__file__).resolve().parents[3] / "services" / "identity" / "migrations"


def upgrade(db: Database, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with db.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def test_existing_identities_get_their_email_key_and_a_shared_address_stays_with_the_oldest(tmp_path):
    with fresh_database(tmp_path, "identity") as fields:
        db = Database(fields["database_url"], fields["database_schema"])
        try:
            db.ensure_schema()
            upgrade(db, "0001")
            with db.engine.begin() as connection:
                for uin, email in (("1", " Ann@Example.org"), ("2", "ann@example.org"), ("3", None), ("4", "b@x.org")):
                    attributes = f'{{"email": "{email}"}}' if email else "{}"
                    connection.execute(
                        text(
                            "INSERT INTO idn_identity (uin, status, attributes, created_at, updated_at)"
                            " VALUES (:uin, 'active', :attributes, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                        ),
                        {"uin": uin, "attributes": attributes},
                    )
            upgrade(db, "head")
            with db.engine.connect() as connection:
                rows = connection.execute(
                    text("SELECT uin, email_key, auth_failures, locked_until FROM idn_identity ORDER BY uin")
                ).all()
        finally:
            db.dispose()
    assert [tuple(r) for r in rows] == [
        ("1", "ann@example.org", 0, None),
        ("2", None, 0, None),
        ("3", None, 0, None),
        ("4", "b@x.org", 0, None),
    ]
