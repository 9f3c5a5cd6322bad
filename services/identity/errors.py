"""Identity's refusals: one exception type carrying the spec's error code, answered by the common handler in
the shape of the route that was called (OAuth's `{error, error_description}`, the wallet envelope's `errors[]`,
Credential-Management's or enrollment's envelope)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from services.common.errors import DomainError, ErrorRenderer


class IdentityError(DomainError):
    def __init__(self, code: str, message: str, status_code: int = 400, headers: Mapping[str, str] | None = None):
        super().__init__(message, status_code)
        self.code = code
        self.headers = dict(headers or {})

    def response(self, request: Request, render: ErrorRenderer) -> Response:
        response = render(request, self.status_code, self.message, [{"errorCode": self.code}])
        response.headers.update(self.headers)
        return response


# FastAPI's answer to a request without a body where a model is expected: the envelope renderers say it in the words
# they use for a body of the wrong shape.
MISSING_BODY = [{"field": "body", "message": "Field required"}]


def error_code(details: list[dict[str, Any]]) -> str | None:
    """The spec error code an `IdentityError` hands a renderer (framework errors have none)."""
    return next((d["errorCode"] for d in details if "errorCode" in d), None)


class UnknownIdentity(IdentityError):
    def __init__(self) -> None:
        super().__init__("not_found", "unknown or inactive UIN/VID", 404)
