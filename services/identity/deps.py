"""Database sessions of the Identity service.

With SQLite, sessions of one process take turns (a process-wide lock): SQLite allows one writer at a
time anyway, and dozens of threads racing for its write lock made it answer "database is locked"
under load instead of queueing. PostgreSQL sessions run concurrently.
"""
from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from services.common.database import Database

_LOCKS: dict[int, threading.Semaphore] = {}


@contextmanager
def session_scope(db: Database) -> Iterator[Session]:
    # A semaphore, not a lock: FastAPI may enter and leave a dependency on different threads.
    lock = _LOCKS.setdefault(id(db), threading.Semaphore(1)) if db.is_sqlite else nullcontext()
    with lock, db.session() as session:
        yield session


def _db_session(request: Request) -> Iterator[Session]:
    with session_scope(request.app.state.db) as session:
        yield session


# scope="function": commit when the route returns, *before* the response is sent. With FastAPI's default
# ("request") the commit runs after the response, and a browser's next request may not see the write yet.
DB = Depends(_db_session, scope="function")
