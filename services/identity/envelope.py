"""The spec's `{responseTime, response, errors[]}` envelope used by client management and wallet APIs."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response

from services.common.clock import iso, utcnow
from services.common.errors import ErrorRenderer
from services.identity.errors import MISSING_BODY, IdentityError, error_code

SHAPE = "body must be {requestTime, request: {...}}"


class EnvelopeError(IdentityError):
    """A spec error code answered as HTTP 200 with `errors[]` (or another status where the spec says so)."""

    def __init__(self, code: str, message: str, status: int = 200, headers: dict[str, str] | None = None):
        super().__init__(code, message, status, headers)


class EnvelopeErrors(EnvelopeError):
    """Several refusals answered at once (a request breaking several rules)."""

    def __init__(self, errors: list[tuple[str, str]]):
        super().__init__(*errors[0])
        self.errors = errors

    def response(self, request: Request, render: ErrorRenderer) -> Response:
        return failed(self.errors, self.status_code)


def ok(response: dict[str, Any]) -> dict[str, Any]:
    return {"responseTime": iso(utcnow(), "milliseconds"), "response": response, "errors": []}


def failed(errors: list[tuple[str, str]], status: int = 200) -> JSONResponse:
    # No `"response": null`: the spec's `response` is an object and not nullable, so an error omits it.
    body = {
        "responseTime": iso(utcnow(), "milliseconds"),
        "errors": [{"errorCode": code, "errorMessage": message} for code, message in errors],
    }
    return JSONResponse(body, status_code=status)


def render(request: Request, status: int, message: str, details: list[dict[str, Any]]) -> Response:
    """Error shape for envelope APIs: a malformed request is `invalid_request` in `errors[]` with HTTP 200."""
    if code := error_code(details):
        return failed([(code, message)], status)
    if details == MISSING_BODY:
        return failed([("invalid_request", SHAPE)])
    if status in (400, 405, 415, 422):
        return failed([("invalid_request", message)])
    if status == 401:
        return failed([("unauthorized", message)], 401)
    if status == 404:
        return failed([("invalid_request", "no such endpoint")], 404)
    return failed([("unknown_error", "internal error" if status >= 500 else message)], status)


def request_part(payload: Any) -> dict[str, Any]:
    """The `request` object of an envelope, or `invalid_request`."""
    if not isinstance(payload, dict) or not isinstance(payload.get("request"), dict):
        raise EnvelopeError("invalid_request", SHAPE)
    if not isinstance(payload.get("requestTime"), str) or not payload["requestTime"]:
        raise EnvelopeError("invalid_request", "requestTime is required")
    return payload["request"]
