from __future__ import annotations

import uuid

import pytest
from sqlalchemy import create_engine, text

from sandbox import topology
from tests.e2e.launcher import RunningSandbox
from tests.support import TEST_DATABASE_URL

PROCESSES = ("information_mediator", "identity", "payments", "consent", "cash_transfer")


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    """The real processes, started once for this directory's tests (own throw-away schemas on PostgreSQL)."""
    schemas = {}
    if TEST_DATABASE_URL:
        run = uuid.uuid4().hex[:8]
        processes = topology.load().processes
        schemas = {f"{processes[n].env_prefix}DATABASE_SCHEMA": f"usct_{run}_{n}" for n in PROCESSES}
    sandbox = RunningSandbox(tmp_path_factory.mktemp("usct") / "var", only=PROCESSES[1:], extra_env=schemas)
    try:
        with sandbox:
            assert sandbox.proc.poll() is None, sandbox.output.decode(errors="replace")
            yield sandbox
    finally:
        if schemas:
            engine = create_engine(TEST_DATABASE_URL)
            with engine.begin() as conn:
                for schema in schemas.values():
                    conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            engine.dispose()
