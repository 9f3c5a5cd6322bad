"""The session the use cases' routes use (`DB` in `dependencies.py`).

Autoflush is off: a route writes when it says so (`session.flush()`) or when it returns, in one commit right
after the route, so no write transaction of SQLite's is held open across a building-block call that may
call us back (the callback would wait for the lock the caller holds).
"""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import Depends
from sqlalchemy.orm import Session

from services.common.app import DBSession


def registry_session(session: Session = DBSession) -> Iterator[Session]:
    session.autoflush = False
    yield session
    session.commit()


Registry = Depends(registry_session, scope="function")
