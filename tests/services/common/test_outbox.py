"""The shared outbox: leased claims that two workers never share, back-off, IM headers only toward the IM."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Boolean, String, true
from sqlalchemy.orm import Mapped, mapped_column

from services.common.clock import iso, utcnow
from services.common.database import Database, UTCDateTime, declarative_base
from services.common.im_client import CLIENT_HEADER, IMClient
from services.common.outbox import Backoff, PollingLoop, claim_due, im_headers

Base = declarative_base()


class Message(Base):
    __tablename__ = "test_outbox_message"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    pending: Mapped[bool] = mapped_column(Boolean, default=True)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)


@pytest.fixture
def db(db_fields):
    database = Database(db_fields["database_url"], db_fields["database_schema"])
    database.ensure_schema()
    Base.metadata.create_all(database.engine)
    yield database
    database.engine.dispose()


def _add(db: Database, count: int, due_in: float = -1) -> None:
    with db.session() as session:
        for n in range(count):
            session.add(Message(id=f"m{n:03d}", next_attempt_at=utcnow() + timedelta(seconds=due_in)))


def test_a_due_row_is_claimed_once_and_leased(db):
    _add(db, 5)
    with db.session() as session:
        first = claim_due(session, Message, Message.pending == true(), limit=3, lease_seconds=60)
    with db.session() as session:
        second = claim_due(session, Message, Message.pending == true(), limit=10, lease_seconds=60)
    assert first == ["m000", "m001", "m002"] and second == ["m003", "m004"]
    with db.session() as session:
        assert claim_due(session, Message, Message.pending == true(), limit=10, lease_seconds=60) == []
        assert all(m.next_attempt_at > utcnow() + timedelta(seconds=50) for m in session.query(Message))


def test_rows_not_due_or_not_pending_are_left(db):
    _add(db, 2, due_in=30)
    with db.session() as session:
        session.add(Message(id="done", pending=False, next_attempt_at=utcnow() - timedelta(seconds=1)))
    with db.session() as session:
        assert claim_due(session, Message, Message.pending == true(), limit=10, lease_seconds=60) == []


def test_concurrent_claimers_never_share_a_row(db):
    _add(db, 60)
    claimed: list[str] = []
    lock = threading.Lock()

    def claimer() -> None:
        while True:
            with db.session() as session:
                ids = claim_due(session, Message, Message.pending == true(), limit=7, lease_seconds=60)
            if not ids:
                return
            with lock:
                claimed.extend(ids)

    threads = [threading.Thread(target=claimer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(claimed) == [f"m{n:03d}" for n in range(60)]


def test_backoff_doubles_up_to_its_cap_and_gives_up():
    backoff = Backoff(base_seconds=2, cap_seconds=10, max_attempts=4)
    assert [backoff.delay(n).total_seconds() for n in (1, 2, 3, 4)] == [2, 4, 8, 10]
    assert not backoff.gives_up(3) and backoff.gives_up(4)


def test_im_headers_go_only_to_calls_through_the_im():
    im = IMClient("http://im:8080/", "SANDBOX/GOV/MOF/PAYMENTS", "secret")
    assert im_headers(im, "http://im:8080/r1/SANDBOX/GOV/X/Y/svc/cb")[CLIENT_HEADER] == "SANDBOX/GOV/MOF/PAYMENTS"
    assert im_headers(im, "http://elsewhere:8080/r1/SANDBOX/GOV/X/Y/svc/cb") == {}
    assert im_headers(im, "http://im:8080/api/v1/trace") == {}
    assert im_headers(None, "http://im:8080/r1/x") == {}


def test_a_polling_loop_survives_a_failing_step_and_stops():
    calls: list[int] = []

    def step() -> bool:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("database hiccup")
        return False

    loop = PollingLoop("test-loop", step, idle_seconds=0.01)
    loop.start()
    loop.wake()
    assert _eventually(lambda: len(calls) >= 3)
    loop.stop(timeout=5)
    assert not loop.thread.is_alive()


def test_iso_is_utc_with_a_z_whatever_the_input():
    moment = utcnow().replace(microsecond=120000)
    assert iso(moment).endswith(".120000Z") and iso(moment, "milliseconds").endswith(".120Z")
    assert iso(moment.replace(tzinfo=None)) == iso(moment) and iso(None) is None


def _eventually(predicate, timeout: float = 5) -> bool:  # noqa: ANN001
    import time

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.01)
    return False
