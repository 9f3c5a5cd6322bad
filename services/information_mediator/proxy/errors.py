"""The IM's own error model: `X-Road-Error: <type>` and `{"type", "message", "detail": <message id>}`."""

from __future__ import annotations

import json

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


class IMError(Exception):
    def __init__(self, kind: tuple[str, int], message: str):
        super().__init__(message)
        self.type, self.status = kind
        self.message = message

    def body(self, message_id: str) -> bytes:
        return json.dumps({"type": self.type, "message": self.message, "detail": message_id}).encode()
