"""Each service's Alembic migrations create exactly the tables its models declare (no drift either way)."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from services.common.database import Database
from tests.support import fresh_database

ROOT = Path(__file__).resolve().parents[3]
PACKAGES = [
    "services.information_mediator",
    "services.identity",
    "services.payments",
    "services.consent",
    "usecases.cash_transfer",
    "usecases.construction_permit",
]


@pytest.mark.parametrize("package", PACKAGES)
def test_autogenerate_finds_no_difference(tmp_path, package):
    metadata = importlib.import_module(f"{package}.models").Base.metadata
    migrations = ROOT / package.replace(".", "/") / "migrations"
    with fresh_database(tmp_path, package.rsplit(".", 1)[1]) as fields:
        db = Database(fields["database_url"], fields["database_schema"])
        try:
            db.migrate(migrations)
            with db.engine.connect() as connection:
                context = MigrationContext.configure(connection, opts={"compare_type": True})
                diff = compare_metadata(context, metadata)
        finally:
            db.dispose()
    assert diff == [], f"{package}: models and migrations differ: {diff}"
