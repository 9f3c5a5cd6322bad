"""Migration 0003 keeps existing VIDs, makes room for 64-character ones and adds the password column."""

from __future__ import annotations

from sqlalchemy import text

from services.common.database import Database
from tests.services.identity.test_migration_0002 import upgrade
from tests.support import fresh_database

LONG_VID = "05a5eecd-8b70-480d-9662-b2e63e4bafdb"


def test_existing_vids_stay_and_long_ones_fit(tmp_path):
    with fresh_database(tmp_path, "identity") as fields:
        db = Database(fields["database_url"], fields["database_schema"])
        try:
            db.ensure_schema()
            upgrade(db, "0002")
            with db.engine.begin() as connection:
                connection.execute(
                    text(
                        "INSERT INTO idn_identity (id, uin, status, attributes, auth_failures, auth_lockouts,"
                        " created_at, updated_at) VALUES (1, '9369006020', 'active', '{}', 0, 0,"
                        " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                    )
                )
                connection.execute(
                    text(
                        "INSERT INTO idn_vid (vid, identity_id, created_at) VALUES ('9038952310', 1, CURRENT_TIMESTAMP)"
                    )
                )
            upgrade(db, "head")
            with db.engine.begin() as connection:
                connection.execute(
                    text("INSERT INTO idn_vid (vid, identity_id, created_at) VALUES (:vid, 1, CURRENT_TIMESTAMP)"),
                    {"vid": LONG_VID},
                )
                vids = connection.execute(text("SELECT vid FROM idn_vid ORDER BY vid")).scalars().all()
                password = connection.execute(text("SELECT password_hash FROM idn_identity")).scalar_one()
        finally:
            db.dispose()
    assert vids == [LONG_VID, "9038952310"] and password is None
