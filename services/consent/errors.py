"""The Consent API's error shape: the spec documents only `400 bad input parameter`, so every client error
(bad body, bad query, an id that does not resolve, a forbidden state change) is a 400 with this body."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response

from services.common.errors import APIError


def render(request: Request, status: int, message: str, details: list[dict[str, Any]]) -> Response:
    body: dict[str, Any] = {"error": "bad input parameter" if status == 400 else "error", "message": message}
    if details:
        body["details"] = details
    return JSONResponse(body, status_code=status)


def bad_request(message: str, **extra: Any) -> APIError:
    return APIError(400, {"error": "bad input parameter", "message": message, **extra})


def not_found(kind: str, object_id: str) -> APIError:
    return bad_request(f"{kind} {object_id!r} does not exist")


async def conflict(request: Request, exc: Exception) -> Response:
    """Two writers raced on one object (e.g. the same record created twice at once): the loser changed
    nothing and may retry; the spec has no 409, so it is a 400."""
    return JSONResponse(
        {
            "error": "bad input parameter",
            "message": "a concurrent change to the same object won; nothing was changed, retry",
        },
        status_code=400,
    )
