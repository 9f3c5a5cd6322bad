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

from services.common.clock import iso, utcnow
from services.identity.errors import MISSING_BODY, IdentityError, error_code

VERSION = "1.0"
SHAPE = "body must be {id, version, requesttime, request: {...}}"
API_IDS = {
    "/share-credential": "mosip.resident.share.credential",
    "/events": "mosip.resident.event.status",
    "/download": "mosip.resident.download.personalized.card",
    "/req/otp": "mosip.identity.otp",
    "/update-uin": "mosip.resident.updateuin",
    "/service-history": "mosip.service.history.get",
    "/updateIdentity": "govstack.updateIdentity",
    "/block": "govstack.block",
    "/unblock": "govstack.unblock",
}


def api_id(path: str) -> str:
    return next((v for k, v in API_IDS.items() if path == k or path.startswith(k + "/")), "mosip.resident")


class CredentialError(IdentityError):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(code, message, status, {"WWW-Authenticate": "Bearer"} if status == 401 else None)


def request_part(payload: Any) -> dict[str, Any]:
    if not isinstance(payload, dict) or not isinstance(payload.get("request"), dict):
        raise CredentialError(400, "invalid_input", SHAPE)
    return payload["request"]


def ok(api: str, response: dict[str, Any], *, time_key: str = "responsetime", errors: bool = True) -> dict:
    body: dict[str, Any] = {
        "id": api,
        "version": VERSION,
        time_key: iso(utcnow(), "milliseconds"),
        "response": response,
    }
    if errors:
        body["errors"] = []
    return body


def failed(api: str, status: int, code: str, message: str) -> JSONResponse:
    body = {
        "id": api,
        "version": VERSION,
        "responsetime": iso(utcnow(), "milliseconds"),
        "errors": [{"errorCode": code, "message": message, "errorMessage": message}],
    }
    return JSONResponse(body, status_code=status)


def render(request: Request, status: int, message: str, details: list[dict[str, Any]]) -> Response:
    """Errors on these paths in the envelope: a `CredentialError` with its code under the operation's id, framework
    errors (unreadable JSON, wrong method) under `mosip.resident`."""
    if code := error_code(details):
        return failed(api_id(request.url.path), status, code, message)
    if details == MISSING_BODY:
        return failed(api_id(request.url.path), 400, "invalid_input", SHAPE)
    if status in (400, 405, 415, 422):
        return failed("mosip.resident", 400 if status == 422 else status, "invalid_input", message)
    if status == 401:
        return failed("mosip.resident", 401, "unauthorized", message)
    return failed("mosip.resident", status, "unknown_error", "internal error" if status >= 500 else message)
