"""An answered consent check is in the verification log before its response completes: the log was written by
a thread every 50 ms after the answers were sent, so a SIGKILL lost the last checks; and one oversized row
(e.g. a caller longer than its column) made PostgreSQL refuse every row written with it."""

from __future__ import annotations

import uuid
from contextlib import contextmanager
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import select

from services.common.database import Database
from services.consent.app import MIGRATIONS
from services.consent.verification.log_writer import LogWriter
from services.consent.verification.models import VerificationLog
from services.consent.verification.pg_checks import GroupCommitLog, connect_kwargs
from tests.killed_service import kill_under_load, start_service

from .conftest import USCT


def check_row(ref: str, **fields: object) -> dict:
    return {
        "checked_at": datetime.now(UTC),
        "data_agreement_id": USCT,
        "data_agreement_revision_id": None,
        "individual_ref": ref,
        "individual_id": None,
        "consent_record_id": None,
        "consent": False,
        "caller": "direct",
        **fields,
    }


@pytest.fixture
def log_db(db_fields):
    db = Database(db_fields["database_url"], db_fields["database_schema"])
    db.migrate(MIGRATIONS)
    yield db
    db.dispose()


def _logged_refs(db: Database) -> list[str]:
    with db.session() as session:
        return list(session.scalars(select(VerificationLog.individual_ref)))


def test_one_oversized_row_does_not_drop_the_others(log_db):
    writer = LogWriter(log_db)
    writer.start()
    try:
        for n in range(20):
            writer.submit([check_row(f"ref-{n}", caller="SANDBOX/GOV/" + "M" * 300 if n == 7 else "direct")])
        writer.flush()
    finally:
        writer.stop()
    assert sorted(_logged_refs(log_db)) == sorted(f"ref-{n}" for n in range(20))
    with log_db.session() as session:
        caller = session.scalars(select(VerificationLog.caller).where(VerificationLog.individual_ref == "ref-7")).one()
    assert caller.startswith("SANDBOX/GOV/MMM") and len(caller) == 255


def test_store_returns_once_committed_and_raises_when_not_stored(log_db, tmp_path):
    from services.consent.verification.log_writer import LogWriteError

    writer = LogWriter(log_db)
    writer.start()
    try:
        writer.store([check_row("stored-at-once")])
        assert _logged_refs(log_db) == ["stored-at-once"]  # no flush: store() waited for the commit
    finally:
        writer.stop()
    empty = Database(f"sqlite:///{tmp_path / 'empty.db'}")  # no verification log table
    writer = LogWriter(empty)
    writer.start()
    try:
        with pytest.raises(LogWriteError):
            writer.store([check_row("lost")])
    finally:
        writer.stop()
        empty.dispose()


def failing_log(client, tmp_path):
    """The verification log of the way single checks take (on PostgreSQL the event loop's, else the writer
    thread's) writes where its table is missing, until the working log is put back."""
    if client.app.state.pg_checks is not None:
        return _failing_event_loop_log(client)
    return _failing_writer_thread(client.app, tmp_path)


@contextmanager
def _failing_event_loop_log(client):
    checks = client.app.state.pg_checks
    working = checks.log
    kwargs = {**connect_kwargs(client.app.state.db), "options": "-csearch_path=no_such_schema"}
    checks.log = client.portal.call(_started_log, kwargs)
    try:
        yield
    finally:
        client.portal.call(checks.log.stop)
        checks.log = working


@contextmanager
def _failing_writer_thread(app, tmp_path):
    empty = Database(f"sqlite:///{tmp_path / 'empty.db'}")
    working = app.state.verification_log
    app.state.verification_log = LogWriter(empty)
    app.state.verification_log.start()
    try:
        yield
    finally:
        app.state.verification_log.stop()
        app.state.verification_log = working
        empty.dispose()


async def _started_log(kwargs: dict) -> GroupCommitLog:
    log = GroupCommitLog(kwargs)
    log.start()
    return log


def test_a_check_the_log_cannot_store_is_not_answered(client, tmp_path):
    """The log's database refuses the rows: the caller gets a 503 in the API's error shape, not an answer."""
    with failing_log(client, tmp_path):
        r = client.get("/service/verification/consent-records/", params={"dataAgreementId": USCT, "individualId": "x"})
    assert r.status_code == 503 and r.json() == {
        "error": "service unavailable",
        "message": "the check could not be logged; retry",
    }
    after = client.get("/service/verification/consent-records/", params={"dataAgreementId": USCT, "individualId": "y"})
    assert after.status_code == 200 and "y" in _logged_refs(client.app.state.db)


def _consent_env(db_fields: dict, data_dir: object) -> dict[str, str]:
    env = {
        "CONSENT_DATA_DIR": str(data_dir),
        "CONSENT_DATABASE_URL": db_fields["database_url"],
        "CONSENT_IM_CLIENT": "",
        "CONSENT_REQUIRE_IM_ASSERTION": "false",  # called directly, not through an IM
        "CONSENT_LOG_LEVEL": "WARNING",
    }
    if db_fields["database_schema"]:
        env["CONSENT_DATABASE_SCHEMA"] = db_fields["database_schema"]
    return env


def _answered_check(client: httpx.Client, _url: str) -> str | None:
    ref = f"kill-{uuid.uuid4().hex}"
    r = client.get("/service/verification/consent-records/", params={"dataAgreementId": USCT, "individualId": ref})
    return ref if r.status_code == 200 else None


def test_every_check_answered_before_a_sigkill_is_in_the_verification_log(db_fields, tmp_path):
    proc, url = start_service("services.consent.app:create_app", _consent_env(db_fields, tmp_path))
    try:
        answered = kill_under_load(proc, url, _answered_check, seconds=2.0)
    finally:
        proc.kill()
        proc.wait()
    assert len(answered) > 100
    db = Database(db_fields["database_url"], db_fields["database_schema"])
    try:
        logged = set(_logged_refs(db))
    finally:
        db.dispose()
    missing = [ref for ref in answered if ref not in logged]
    assert not missing, f"{len(missing)} of {len(answered)} answered checks are not in the verification log"
