"""The Credential-Management.yaml envelopes: `{id, version, responsetime, response, errors[]}`.

The spec's schemas differ in small ways (`responsetime` or `responseTime`; an error's text under `message` or
`errorMessage`; `errors` an object in one response): every answer here uses `responsetime` unless its own
schema says `responseTime`, and each error carries its text under both names (a client of any of the schemas
finds it). A success has `errors: []`, except `/share-credential`, whose schema makes `errors` an object: it
leaves it out.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response

from services.identity.base import iso

VERSION = "1.0"


class CredentialError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def ok(api_id: str, response: dict[str, Any], *, time_key: str = "responsetime", errors: bool = True) -> dict:
    body: dict[str, Any] = {"id": api_id, "version": VERSION, time_key: iso(), "response": response}
    if errors:
        body["errors"] = []
    return body


def failed(api_id: str, status: int, code: str, message: str, headers: dict | None = None) -> JSONResponse:
    body = {
        "id": api_id,
        "version": VERSION,
        "responsetime": iso(),
        "errors": [{"errorCode": code, "message": message, "errorMessage": message}],
    }
    return JSONResponse(body, status_code=status, headers=headers)


def render(request: Request, status: int, message: str, details: list[dict[str, Any]]) -> Response:
    """Framework errors (unreadable JSON, wrong method) on these paths, in the envelope."""
    if status in (400, 405, 415, 422):
        return failed("mosip.resident", 400 if status == 422 else status, "invalid_input", message)
    if status == 401:
        return failed("mosip.resident", 401, "unauthorized", message)
    return failed("mosip.resident", status, "unknown_error", "internal error" if status >= 500 else message)
