"""services.common.database on SQLite: no commit pays for copying the WAL into the database (issue 21: a
checkpoint inside every hundredth message-log commit set the IM's p99); a thread of the process does it."""

from __future__ import annotations

import os
import sqlite3
import time
from contextlib import closing
from pathlib import Path

from services.common import database
from services.common.database import Database

PAGE = 4096
ROWS = 1500  # about 6 MB: past SQLite's default checkpoint threshold (1 000 pages), below the backstop


def _blobs_database(path: Path) -> Path:
    """A WAL-mode SQLite file with one empty table, its WAL already folded in (the last connection closed)."""
    with closing(sqlite3.connect(path)) as setup:
        setup.execute("PRAGMA journal_mode=WAL")
        setup.execute("CREATE TABLE blobs (id INTEGER PRIMARY KEY, body BLOB NOT NULL)")
    return path


def test_a_large_commit_returns_before_any_checkpoint_and_a_thread_copies_the_wal_soon_after(tmp_path, monkeypatch):
    monkeypatch.setattr(database, "CHECKPOINT_DELAY", 2.0)
    path = _blobs_database(tmp_path / "wal.db")
    before = os.path.getsize(path)
    db = Database(f"sqlite:///{path}")
    try:
        with db.engine.connect() as connection:
            connection.exec_driver_sql("INSERT INTO blobs (body) VALUES (?)", [(os.urandom(PAGE),)] * ROWS)
            connection.commit()
        # Still only in the WAL: the commit did not checkpoint (SQLite's default would have, at 1 000 pages).
        assert os.path.getsize(path) == before
        assert os.path.getsize(f"{path}-wal") > ROWS * PAGE
        deadline = time.monotonic() + 20
        while os.path.getsize(path) < before + ROWS * PAGE and time.monotonic() < deadline:
            time.sleep(0.1)
        assert os.path.getsize(path) >= before + ROWS * PAGE, "the checkpoint thread did not copy the WAL"
        with db.engine.connect() as connection:
            assert connection.exec_driver_sql("SELECT count(*) FROM blobs").scalar() == ROWS
    finally:
        db.dispose()


def test_every_connection_keeps_a_larger_checkpoint_threshold_as_a_backstop(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'backstop.db'}")
    try:
        with db.engine.connect() as connection:
            pages = connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar()
        assert pages == database.WAL_BACKSTOP_PAGES > 1000
    finally:
        db.dispose()


def test_a_forked_child_checkpoints_with_a_thread_of_its_own_and_dispose_ends_the_parents(tmp_path, monkeypatch):
    monkeypatch.setattr(database, "CHECKPOINT_DELAY", 0.05)
    path = _blobs_database(tmp_path / "fork.db")
    db = Database(f"sqlite:///{path}")
    with db.engine.connect() as connection:
        connection.exec_driver_sql("INSERT INTO blobs (body) VALUES (?)", (b"parent",))
        connection.commit()
    parents = db._checkpointer._thread
    assert parents.is_alive()
    time.sleep(0.5)  # the parent's thread has checkpointed its write; it would copy the child's frames too
    before = os.path.getsize(path)
    pid = os.fork()
    if pid == 0:  # the child: its parent's thread is not here; a write must start one of its own
        code = 1
        try:
            db.engine.dispose(close=False)  # the parent's pooled connections stay the parent's
            with db.engine.connect() as connection:
                connection.exec_driver_sql("INSERT INTO blobs (body) VALUES (?)", [(os.urandom(PAGE),)] * ROWS)
                connection.commit()
            deadline = time.monotonic() + 20
            while os.path.getsize(path) < before + ROWS * PAGE and time.monotonic() < deadline:
                time.sleep(0.05)
            code = 0 if os.path.getsize(path) >= before + ROWS * PAGE else 3
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, "the child's writes were not checkpointed"
    db.dispose()
    assert not parents.is_alive()
