"""The message log never loses an answered exchange: no record can make its batch fail (security finding 4),
and an exchange is committed before its response completes, so a SIGKILL cannot lose it (finding 5)."""

from __future__ import annotations

import asyncio
import hashlib
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, select, text, update

from services.common.database import Database
from services.information_mediator.app import MIGRATIONS, create_app
from services.information_mediator.cli import verify_log
from services.information_mediator.messagelog.chain import GENESIS, record_hash
from services.information_mediator.messagelog.models import LogRecord
from services.information_mediator.messagelog.verify import verify_all
from services.information_mediator.messagelog.writer import MessageLogWriter
from services.information_mediator.settings import IMSettings
from tests.killed_service import kill_under_load, start_service
from tests.support import TEST_DATABASE_URL, LiveServer, free_port

from .conftest import ADMIN, CLIENT, CLIENT_SECRET, PROVIDER, Stack, conf

LONG_ID = "x" * 200
LONG_SEGMENT = "s" * 700


def exchange_record(n: int, **fields: object) -> dict:
    now = datetime.now(UTC)
    return {
        "message_id": f"msg-{n}",
        "kind": "rest",
        "client": CLIENT,
        "service": f"{PROVIDER}/echo",
        "method": "GET",
        "path": f"/item/{n}",
        "status": 200,
        "error_type": None,
        "request_at": now,
        "response_at": now,
        "duration_ms": 1.5,
        "request_size": 0,
        "response_size": 2,
        "request_hash": hashlib.sha256(b"").hexdigest(),
        "response_hash": hashlib.sha256(b"{}").hexdigest(),
        "request_body": None,
        "response_body": None,
        **fields,
    }


@pytest.fixture
def log_db(db_fields):
    db = Database(db_fields["database_url"], db_fields["database_schema"])
    db.migrate(MIGRATIONS)
    yield db
    db.dispose()


@pytest.fixture
def key():
    return Ed25519PrivateKey.generate()


@pytest.fixture
def writer(log_db, key):
    writer = MessageLogWriter(log_db, key, "im-test")
    writer.start()
    yield writer
    writer.stop()


def _verifies(db: Database, key: Ed25519PrivateKey) -> bool:
    with db.session() as session:
        return verify_all(session, key.public_key()).ok


def _rows(db: Database) -> list[LogRecord]:
    with db.session() as session:
        return list(session.scalars(select(LogRecord).order_by(LogRecord.seq)))


def test_one_oversized_record_does_not_drop_its_batch(writer, log_db, key):
    """Finding 4: a 200-character message id (column: 128) made the whole batch fail on PostgreSQL."""
    oversized = {
        "message_id": LONG_ID,
        "client": "c" * 600,
        "service": LONG_SEGMENT,
        "method": "M" * 40,
        "path": "/" + "p" * 3000,
        "error_type": "E" * 200,
        "kind": "k" * 40,
    }
    for n in range(20):
        writer.submit(exchange_record(n, **(oversized if n == 7 else {})))
    writer.flush()
    rows = _rows(log_db)
    assert len(rows) == 20
    stored = rows[7]
    limits = LogRecord.__table__.columns
    for name, value in oversized.items():
        assert value.startswith(getattr(stored, name)) and len(getattr(stored, name)) == limits[name].type.length
    assert _verifies(log_db, key)


def test_control_characters_are_escaped_not_stored(writer, log_db, key):
    """PostgreSQL refuses NUL in text, and the hash chain separates fields with 0x1F: neither may reach a row."""
    writer.submit(exchange_record(1, service="A/B/C/D/e\x00v\x1fil", path="/\x00"))
    writer.submit(exchange_record(2))
    writer.flush()
    rows = _rows(log_db)
    assert [r.message_id for r in rows] == ["msg-1", "msg-2"]
    assert rows[0].service == "A/B/C/D/e%00v%1Fil" and rows[0].path == "/%00"
    assert _verifies(log_db, key)


def test_records_without_a_correlation_id_hash_as_before_it_existed():
    """Rows written before the column (NULL there) keep the digest the previous release computed for them."""
    at = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    fields = {
        "chain": "im-1",
        "seq": 1,
        "message_id": "m-1",
        "kind": "rest",
        "client": "SANDBOX/GOV/C/APP",
        "service": "SANDBOX/GOV/P/APP/s",
        "method": "GET",
        "path": "/x",
        "status": 200,
        "error_type": None,
        "request_at": at,
        "response_at": at,
        "duration_ms": 1.5,
        "request_size": 0,
        "response_size": 2,
        "request_hash": "a" * 64,
        "response_hash": "b" * 64,
    }
    before = "c28b0d8029a34e67518adcc78235762239e680380ab28c8c119474ab33349b45"  # computed by the previous release
    assert record_hash(fields, GENESIS, (None, b"{}")) == before
    assert record_hash({**fields, "correlation_id": None}, GENESIS, (None, b"{}")) == before
    assert record_hash({**fields, "correlation_id": "client-42"}, GENESIS, (None, b"{}")) != before


def test_the_correlation_id_is_covered_by_the_chain(writer, log_db, key):
    writer.submit(exchange_record(1, correlation_id="client-42"))
    writer.submit(exchange_record(2))
    writer.flush()
    assert [r.correlation_id for r in _rows(log_db)] == ["client-42", None]
    assert _verifies(log_db, key)
    with log_db.session() as session:
        session.execute(update(LogRecord).where(LogRecord.message_id == "msg-1").values(correlation_id="forged"))
    assert not _verifies(log_db, key)


def test_a_record_that_is_not_an_exchange_record_is_refused_before_queueing(writer):
    with pytest.raises(ValueError, match="status"):
        writer.submit(exchange_record(1, status="200"))
    with pytest.raises(ValueError, match="request_at"):
        writer.submit(exchange_record(1, request_at=None))
    with pytest.raises(ValueError, match="unknown"):
        writer.submit(exchange_record(1, corelation_id="typo"))


def test_store_returns_once_committed(writer, log_db):
    async def exchanges() -> None:
        await asyncio.gather(*(writer.store(exchange_record(n)) for n in range(50)))

    asyncio.run(exchanges())
    rows = _rows(log_db)  # no flush: store() has waited for the commit
    assert sorted(r.message_id for r in rows) == sorted(f"msg-{n}" for n in range(50))
    assert len({r.signature for r in rows if r.signature}) < 50  # group commit: batches, not one per record
    with ThreadPoolExecutor(8) as pool:  # sync endpoints run in worker threads
        list(pool.map(lambda n: writer.store_blocking(exchange_record(n)), range(50, 60)))
    assert len(_rows(log_db)) == 60


def test_store_raises_when_the_record_could_not_be_stored(tmp_path):
    """A database without the log's table: the caller learns that its exchange is not logged."""
    from services.information_mediator.messagelog.writer import StoreError

    db = Database(f"sqlite:///{tmp_path / 'empty.db'}")
    writer = MessageLogWriter(db, Ed25519PrivateKey.generate(), "im-test")
    writer.start()
    try:
        with pytest.raises(StoreError):
            asyncio.run(writer.store(exchange_record(1)))
    finally:
        writer.stop()
        db.dispose()


def test_a_failing_batch_is_retried_record_by_record(writer, log_db, key, monkeypatch):
    """Second line of defence: should a record still fail in the database, only that record is lost."""
    from services.information_mediator.messagelog import writer as writer_module

    monkeypatch.setattr(writer_module, "fit", lambda record: dict(record, correlation_id=None))
    bad = exchange_record(5, request_at="not a time")

    async def exchanges() -> list:
        return await asyncio.gather(
            *(writer.store(bad if n == 5 else exchange_record(n)) for n in range(20)), return_exceptions=True
        )

    outcomes = asyncio.run(exchanges())
    assert [n for n, outcome in enumerate(outcomes) if outcome is not None] == [5]
    assert sorted(r.message_id for r in _rows(log_db)) == sorted(f"msg-{n}" for n in range(20) if n != 5)
    assert _verifies(log_db, key)


@pytest.mark.skipif(not TEST_DATABASE_URL, reason="on PostgreSQL the writer keeps one connection")
def test_the_writer_replaces_its_connection_when_the_server_closed_it(writer, log_db, key):
    """The writer's kept connection, closed by the server while idle (a restart, an idle timeout): the next
    exchange is still stored, on a new connection, as when every batch took a pre-pinged one from the pool."""
    asyncio.run(writer.store(exchange_record(1)))
    backend = writer._log_store._pooled.driver_connection.info.backend_pid
    with log_db.engine.connect() as connection:  # waits (up to 10 s) until that backend has gone
        assert connection.execute(text("SELECT pg_terminate_backend(:pid, 10000)"), {"pid": backend}).scalar()
    asyncio.run(writer.store(exchange_record(2)))
    assert [r.message_id for r in _rows(log_db)] == ["msg-1", "msg-2"]
    assert _verifies(log_db, key)


@pytest.mark.parametrize("size", [2, 10])  # on PostgreSQL: one statement; a transaction sent as a pipeline
def test_a_batch_whose_head_cannot_move_stores_none_of_its_records(writer, log_db, key, monkeypatch, size):
    """The records and the chain's signed head go in together: a head that cannot be written leaves no record
    behind, and the next batch starts the chain cleanly."""
    from services.information_mediator.messagelog.fields import fit

    monkeypatch.setattr(writer._log_store, "_head_row", lambda chain, records, seal: (chain, None, None, None))
    with pytest.raises(Exception, match="(?i)null"):  # the head's seq is NOT NULL
        writer._store([fit(exchange_record(n)) for n in range(size)])  # as the idle writer thread would
    assert _rows(log_db) == []
    monkeypatch.undo()
    asyncio.run(writer.store(exchange_record(99)))
    assert [(r.message_id, r.seq) for r in _rows(log_db)] == [("msg-99", 1)]
    assert _verifies(log_db, key)


@pytest.mark.skipif(not TEST_DATABASE_URL, reason="on PostgreSQL the writer keeps one connection")
def test_the_writers_connection_goes_back_to_the_pool_out_of_autocommit(log_db, key):
    """The writer sends each batch as one statement in autocommit; the pool must not hand that mode on."""
    writer = MessageLogWriter(log_db, key, "im-test")
    writer.start()
    asyncio.run(writer.store(exchange_record(1)))
    kept = writer._log_store._pooled.driver_connection
    assert kept.autocommit
    writer.stop()
    assert not kept.autocommit and not kept.closed


async def _tiny_provider(scope: dict, receive: object, send: object) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": b'{"ok": true}'})


@pytest.fixture
def tiny_stack(db_fields, tmp_path):
    """A real IM in front of a provider that answers at once (the echo provider fetches keys per call)."""
    with LiveServer(_tiny_provider) as provider:
        settings = IMSettings(**db_fields, data_dir=tmp_path, admin_token=ADMIN)
        app = create_app(settings)
        with LiveServer(app) as im:
            stack = Stack(im, provider, app, settings)
            response = stack.admin("PUT", "/api/v1/config", json=conf(provider.url, f"http://127.0.0.1:{free_port()}"))
            assert response.status_code == 201, response.text
            yield stack
            stack.http.close()


def test_im_logs_all_concurrent_exchanges_when_one_carries_an_oversized_id(tiny_stack):
    """Finding 4 through a real IM: 20 concurrent exchanges, one with a 200-character X-Road-Id, and an
    unauthenticated call with a 700-character path segment."""
    stack = tiny_stack

    def call(n: int) -> httpx.Response:
        return stack.call("GET", "echo", f"/{n}", headers={"X-Road-Id": LONG_ID} if n == 7 else {})

    with ThreadPoolExecutor(20) as pool:
        responses = list(pool.map(call, range(20)))
    unauthenticated = stack.http.get(
        f"/r1/SANDBOX/GOV/PROVIDER-ORG/APP/{LONG_SEGMENT}", headers={"Information-Mediator-Client": CLIENT}
    )
    # The IM may refuse the oversized id (400) or keep it (200): either way the exchange is logged.
    assert [r.status_code for n, r in enumerate(responses) if n != 7] == [200] * 19
    assert responses[7].status_code in (200, 400) and unauthenticated.status_code == 401
    stack.flush_log()
    with stack.app.state.db.session() as session:
        logged = set(session.scalars(select(LogRecord.message_id)))
        echo_calls = session.scalar(select(func.count()).where(LogRecord.service == f"{PROVIDER}/echo"))
    for r in [*responses, unauthenticated]:
        message_id = r.headers["X-Road-Id"]
        assert message_id in logged or message_id[:128] in logged, message_id
    assert echo_calls == 20
    assert max(len(m) for m in logged) <= LogRecord.__table__.columns["message_id"].type.length
    ok, message = verify_log(stack.settings)
    assert ok, message


# ---- SIGKILL under load (finding 5) ----------------------------------------------------------------


def _im_env(db_fields: dict, data_dir: object) -> dict[str, str]:
    env = {
        "INFORMATION_MEDIATOR_DATA_DIR": str(data_dir),
        "INFORMATION_MEDIATOR_DATABASE_URL": db_fields["database_url"],
        "INFORMATION_MEDIATOR_ADMIN_TOKEN": ADMIN,
        "INFORMATION_MEDIATOR_LOG_LEVEL": "WARNING",
    }
    if db_fields["database_schema"]:
        env["INFORMATION_MEDIATOR_DATABASE_SCHEMA"] = db_fields["database_schema"]
    return env


def _answered_id(client: httpx.Client, _url: str) -> str | None:
    r = client.get(
        f"/r1/{PROVIDER}/echo/load",
        headers={"Information-Mediator-Client": CLIENT, "Information-Mediator-Client-Secret": CLIENT_SECRET},
    )
    return r.headers["X-Road-Id"] if r.is_success else None


def test_every_exchange_answered_before_a_sigkill_is_in_the_log(db_fields, tmp_path):
    """Finding 5: the writer stored batches after the responses were sent, so a SIGKILL lost the last ones
    while verify-log still said intact."""
    with LiveServer(_tiny_provider) as provider:
        proc, url = start_service("services.information_mediator.app:create_app", _im_env(db_fields, tmp_path))
        try:
            document = conf(provider.url, f"http://127.0.0.1:{free_port()}")
            put = httpx.put(f"{url}/api/v1/config", json=document, headers={"Authorization": f"Bearer {ADMIN}"})
            assert put.status_code == 201, put.text
            answered = kill_under_load(proc, url, _answered_id, seconds=2.0)
        finally:
            proc.kill()
            proc.wait()
    assert len(answered) > 100
    db = Database(db_fields["database_url"], db_fields["database_schema"])
    try:
        with db.session() as session:
            logged = set(session.scalars(select(LogRecord.message_id)))
    finally:
        db.dispose()
    missing = [m for m in answered if m not in logged]
    assert not missing, f"{len(missing)} of {len(answered)} answered exchanges are not in the log"
    ok, message = verify_log(IMSettings(**db_fields, data_dir=tmp_path))
    assert ok, message
