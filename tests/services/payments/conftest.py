from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from .support import make_app


@pytest.fixture
def app(db_fields, tmp_path):
    return make_app(db_fields, tmp_path)


@pytest.fixture
def client(app):
    with TestClient(app) as c:
        yield c
