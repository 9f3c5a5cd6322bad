"""Route dependencies of the Identity service."""
from __future__ import annotations

from fastapi import Depends

from services.common.app import db_session

# scope="function": commit when the route returns, *before* the response is sent. With FastAPI's default
# ("request") the commit runs after the response, and a browser's next request may not see the write yet.
DB = Depends(db_session, scope="function")
