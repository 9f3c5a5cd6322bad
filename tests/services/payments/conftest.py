from __future__ import annotations

import pytest

from tests.support import mediated_client

from .support import make_app


@pytest.fixture
def app(db_fields, tmp_path):
    return make_app(db_fields, tmp_path)


@pytest.fixture
def client(app):
    with mediated_client(app) as c:
        yield c
