from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from services.identity.app import create_app
from services.identity.settings import IdentitySettings
from tests.services.identity.helpers import ADMIN_TOKEN
from tests.support import LiveServer, free_port, fresh_database


def identity_settings(db: dict, data_dir, **overrides) -> IdentitySettings:  # noqa: ANN001
    values = {"data_dir": data_dir, "seed": True, "admin_token": ADMIN_TOKEN, "long_poll_seconds": 1.0, **db}
    values.update(overrides)
    return IdentitySettings(**values)


@contextmanager
def running_identity(db: dict, data_dir, **overrides) -> Iterator[LiveServer]:  # noqa: ANN001
    """A real uvicorn server running an Identity app on `db`; `.url` is also the issuer, `.app` the app."""
    port = free_port()
    app = create_app(identity_settings(db, data_dir, port=port, **overrides))
    with LiveServer(app, port=port) as server:
        server.app = app
        yield server


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """One running Identity service per test module (a module may define its own with other settings)."""
    tmp = tmp_path_factory.mktemp("identity")
    with fresh_database(tmp, "identity") as db, running_identity(db, tmp) as server:
        yield server


@pytest.fixture(scope="module")
def http(live):
    with httpx.Client(base_url=live.url, timeout=30) as client:
        yield client
