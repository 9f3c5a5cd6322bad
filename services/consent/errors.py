"""The Consent API's error shape: the spec documents only `400 bad input parameter`, so every client error
(bad body, bad query, an id that does not resolve, a forbidden state change) is a 400 with this body; a
call its caller may not make is a 403 in the same shape (`"error": "forbidden"`)."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response

from services.common.errors import APIError

# Starlette's own texts for an unknown route or method, and the IM guard's for a path no service lists.
_ROUTING_TEXTS = {"Not Found", "not found", "Method Not Allowed"}


def _error_name(status: int) -> str:
    if status == 400:
        return "bad input parameter"
    try:
        return HTTPStatus(status).phrase.lower()
    except ValueError:
        return "error"


def _routing_message(request: Request, status: int) -> str:
    if status == 405:
        return f"method {request.method} is not allowed on {request.url.path}"
    return f"no such path: {request.method} {request.url.path}"


def render(request: Request, status: int, message: str, details: list[dict[str, Any]]) -> Response:
    if status in (404, 405) and message in _ROUTING_TEXTS:
        message = _routing_message(request, status)
    body: dict[str, Any] = {"error": _error_name(status), "message": message}
    if details:
        body["details"] = details
    return JSONResponse(body, status_code=status)


def bad_request(message: str, **extra: Any) -> APIError:
    return APIError(400, {"error": "bad input parameter", "message": message, **extra})


def forbidden(message: str) -> APIError:
    return APIError(403, {"error": "forbidden", "message": message})


def unavailable(message: str) -> APIError:
    return APIError(503, {"error": "service unavailable", "message": message}, {"Retry-After": "1"})


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
