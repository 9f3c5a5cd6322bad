"""The IM's own error model: `X-Road-Error: <type>` and `{"type", "message", "detail": <message id>}`.

`detail` is the id the IM knows the request by: on a mediated call the message id it assigned (also in the
answer's `X-Road-Id`); on the IM's own routes (pub/sub, admin, monitoring) the `X-Road-Id` the client sent,
else empty. Every such body is made by `error_body`."""

from __future__ import annotations

import json
from collections.abc import Mapping

from fastapi import Request
from fastapi.responses import Response

from services.common.errors import DomainError, ErrorRenderer

BAD_REQUEST = ("Client.BadRequest", 400)
INVALID_CLIENT = ("Client.InvalidClientIdentifier", 400)
AUTHENTICATION_FAILED = ("Client.AuthenticationFailed", 401)
ACCESS_DENIED = ("Client.AccessDenied", 403)
UNKNOWN_SERVICE = ("Server.UnknownService", 404)
SERVICE_DISABLED = ("Server.ServiceDisabled", 403)
REQUEST_TIMEOUT = ("Client.RequestTimeout", 408)
REQUEST_TOO_LARGE = ("Client.RequestTooLarge", 413)
TOO_MANY_REQUESTS = ("Client.TooManyRequests", 429)
NETWORK_ERROR = ("Server.ServerProxy.NetworkError", 502)
NO_PEER = ("Server.NoPeer", 503)  # a service of a federated instance: no peer IM of that instance is configured
TIMEOUT = ("Server.ServerProxy.Timeout", 504)
# the provider answered but the exchange could not be written to the message log: its answer is withheld
LOG_FAILURE = ("Server.ServerProxy.MessageLogFailure", 503)


CONFLICT = ("Client.Conflict", 409)
NOT_FOUND = ("Client.NotFound", 404)
METHOD_NOT_ALLOWED = ("Client.MethodNotAllowed", 405)
UNAUTHORIZED = ("Client.Unauthorized", 401)
INTERNAL_ERROR = ("Server.InternalError", 500)

Kind = tuple[str, int]  # (X-Road error type, HTTP status)


def error_body(type_: str, message: str, message_id: str) -> bytes:
    return json.dumps({"type": type_, "message": message, "detail": message_id}).encode()


def error_response(request: Request, kind: Kind, message: str, headers: Mapping[str, str] | None = None) -> Response:
    """An error of the IM's own routes (see the module's docstring for `detail`)."""
    type_, status = kind
    return Response(
        error_body(type_, message, request.headers.get("x-road-id", "")),
        status_code=status,
        media_type="application/json",
        headers={"X-Road-Error": type_, **(headers or {})},
    )


def kind_of(status: int) -> Kind:
    """The type of an error FastAPI makes (validation, unknown path or method, unexpected failure)."""
    named = {404: NOT_FOUND, 405: METHOD_NOT_ALLOWED}.get(status)
    return named or (BAD_REQUEST[0] if status < 500 else INTERNAL_ERROR[0], status)


def im_error(request: Request, status: int, message: str, details: list) -> Response:
    """The IM's error renderer (`install_error_handlers`)."""
    return error_response(request, kind_of(status), message)


class IMError(DomainError):
    """An error the IM answers in its own shape: raised on the proxy's path (which sends `body`) or from a
    route, where the error handler answers it through `response`."""

    def __init__(self, kind: Kind, message: str, headers: Mapping[str, str] | None = None):
        super().__init__(message, kind[1])
        self.kind = kind
        self.type, self.status = kind
        self.headers = headers

    def body(self, message_id: str) -> bytes:
        return error_body(self.type, self.message, message_id)

    def response(self, request: Request, render: ErrorRenderer) -> Response:
        return error_response(request, self.kind, self.message, self.headers)
