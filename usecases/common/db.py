"""The session our routes use.

Most routes are async (they await building-block calls) while SQLAlchemy is sync. On SQLite the kernel
BEGINs IMMEDIATE at the first write; a write transaction opened by an autoflush on the event loop and
committed later (after the loop ran other requests) can block the loop on the database lock held by the
very request that needs the loop to finish: a 30 s stall. So autoflush is off and the commit happens in
one go right after the route returns, on the loop, with nothing written before it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import Depends
from sqlalchemy.orm import Session

from services.common.app import DBSession


async def registry_session(session: Session = DBSession) -> AsyncIterator[Session]:
    session.autoflush = False
    yield session
    session.commit()


Registry = Depends(registry_session, scope="function")
