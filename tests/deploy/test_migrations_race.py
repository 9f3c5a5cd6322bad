"""Replicas start together (a Deployment's pods, `docker compose up --scale`) and each migrates and seeds its
service's schema on start: two processes starting on one fresh schema at once must both come up."""

from __future__ import annotations

import asyncio
import threading
import uuid

import pytest
from sqlalchemy import create_engine, text

from services.payments.app import create_app
from services.payments.settings import PaymentsSettings
from tests.support import TEST_DATABASE_URL

pytestmark = pytest.mark.skipif(
    not TEST_DATABASE_URL, reason="replicas share one server database: PostgreSQL only (set TEST_DATABASE_URL)"
)


def _start_together(schema: str, data_dir, replicas: int = 2) -> list[BaseException]:  # noqa: ANN001
    settings = PaymentsSettings(
        database_url=TEST_DATABASE_URL, database_schema=schema, data_dir=data_dir, worker_enabled=False
    )
    apps = [create_app(settings) for _ in range(replicas)]
    ready, failures = threading.Barrier(replicas), []

    async def start_and_stop(app) -> None:  # noqa: ANN001
        async with app.router.lifespan_context(app):
            pass

    def replica(app) -> None:  # noqa: ANN001
        ready.wait()
        try:
            asyncio.run(start_and_stop(app))
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            failures.append(exc)

    threads = [threading.Thread(target=replica, args=(app,)) for app in apps]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return failures


def test_replicas_starting_on_one_fresh_schema_at_once_both_migrate_and_seed(tmp_path):
    schemas = [f"t_race_{uuid.uuid4().hex[:10]}" for _ in range(3)]
    try:
        for schema in schemas:  # a race is not lost every time: three fresh schemas
            failures = _start_together(schema, tmp_path / schema)
            assert not failures, f"a replica failed to start on {schema}: {failures[0]!r}"
    finally:
        engine = create_engine(TEST_DATABASE_URL)
        with engine.begin() as conn:
            for schema in schemas:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()
