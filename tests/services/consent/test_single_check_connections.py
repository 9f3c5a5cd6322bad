"""On PostgreSQL, single checks read and log through the event loop's own connections (`pg_checks.py`), not the
engine's pool, whose pre-ping replaced connections the server had dropped: these must recover as well."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from .conftest import USCT, new_individual

URL = "/service/verification/consent-records/"


@pytest.fixture
def pg_client(client):
    if client.app.state.pg_checks is None:
        pytest.skip("PostgreSQL only (TEST_DATABASE_URL)")
    return client


def _terminate(client, pid: int) -> None:
    with client.app.state.db.engine.connect() as connection:
        connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})


def _check(client, individual: str) -> dict:
    r = client.get(URL, params={"dataAgreementId": USCT, "individualId": individual})
    assert r.status_code == 200, r.text
    return r.json()["verifications"][0]


def test_checks_go_on_after_the_server_drops_their_connections(pg_client):
    individual = new_individual(pg_client)
    assert _check(pg_client, individual)["individualId"] == individual  # opens the connections
    checks = pg_client.app.state.pg_checks
    # The next lookup takes the read connection that answered this one (the pool reuses the latest first).
    [(read_pid,)] = pg_client.portal.call(checks.reads.fetch, "SELECT pg_backend_pid()", ())
    _terminate(pg_client, read_pid)
    _terminate(pg_client, checks.log._connection.info.backend_pid)
    assert _check(pg_client, individual)["individualId"] == individual
    with pg_client.app.state.db.engine.connect() as connection:
        logged = connection.execute(
            text("SELECT count(*) FROM consent_verification_log WHERE individual_ref = :ref"), {"ref": individual}
        ).scalar_one()
    assert logged == 2
