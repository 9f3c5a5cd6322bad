from __future__ import annotations

import pytest

from tests.support import fresh_database


@pytest.fixture
def db_fields(tmp_path):
    """Database settings fields for one empty database (SQLite, or PostgreSQL with TEST_DATABASE_URL)."""
    with fresh_database(tmp_path) as fields:
        yield fields


@pytest.fixture
def make_db_fields(tmp_path):
    """Factory for several independent databases in one test (one per service)."""
    from contextlib import ExitStack

    with ExitStack() as stack:
        yield lambda name: stack.enter_context(fresh_database(tmp_path, name))
