"""What the use cases' routes take as parameters, typed (`Annotated`), instead of reading `request.app.state`.

One async rule for usecases/: **a route that touches the database is a plain `def`** (FastAPI runs it in its
thread pool) and calls the building blocks synchronously (`IMClient.request_sync`), so neither a database nor
an HTTP call ever blocks the event loop. A route is `async def` only when it does no blocking work itself: it
awaits the request or hands its database work to the thread pool (the biller's mark-bill-paid, the IM room's
event delivery). The request bodies plain routes need arrive parsed by the async dependencies here
(`FormFields`, `JSONObject`, `RawBody`); background work on the loop awaits only the IM or a thread.
Each use case's own `dependencies.py` types `Settings` with its settings class.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from services.common.database import Database
from services.common.errors import APIError
from services.common.im_client import IMClient

from .db import Registry
from .settings import UseCaseSettings

DB = Annotated[Session, Registry]


def settings_of(request: Request) -> UseCaseSettings:
    """For the page helpers below the routes (layout, error pages); routes take `Settings`."""
    return request.app.state.settings


async def get_settings(request: Request) -> UseCaseSettings:
    return settings_of(request)


async def get_im(request: Request) -> IMClient:
    return request.app.state.im


async def get_database(request: Request) -> Database:
    return request.app.state.db


async def form_fields(request: Request) -> FormData:
    """The posted form (Starlette caches it: the CSRF check read it already)."""
    return await request.form()


async def raw_body(request: Request) -> bytes:
    return await request.body()


async def json_object(request: Request) -> dict[str, Any]:
    """The body as a JSON object, else 400 `{error: invalid_request}`."""
    try:
        body = await request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise APIError(400, {"error": "invalid_request", "message": "the body must be a JSON object"})
    return body


Settings = Annotated[UseCaseSettings, Depends(get_settings)]
IM = Annotated[IMClient, Depends(get_im)]
Databases = Annotated[Database, Depends(get_database)]  # for work a route hands to a thread itself
FormFields = Annotated[FormData, Depends(form_fields)]
RawBody = Annotated[bytes, Depends(raw_body)]
JSONObject = Annotated[dict[str, Any], Depends(json_object)]
