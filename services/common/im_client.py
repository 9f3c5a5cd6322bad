"""Outgoing calls through the Information Mediator.

`IMClient.request("SANDBOX/GOV/MOF/PAYMENTS/g2p", "POST", "/bulk-payment", json=...)` sends
`POST {im_url}/r1/SANDBOX/GOV/MOF/PAYMENTS/g2p/bulk-payment` with this application's identity and
credential, and the message id of the request being served (so one user action's exchanges share an id
and can be found together in the IM trace).
"""

from __future__ import annotations

import contextvars
import hashlib
import uuid
from typing import Any
from urllib.parse import quote

import httpx

from .tls import client_context

CLIENT_HEADER = "Information-Mediator-Client"
SECRET_HEADER = "Information-Mediator-Client-Secret"
MESSAGE_ID_HEADER = "X-Road-Id"
# The IM assigns every message id; the id a client offered travels on as the correlation id of its action.
CORRELATION_HEADER = "X-Road-Correlation-Id"

current_message_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("im_message_id", default=None)


def hash_secret(secret: str) -> str:
    """How the IM stores an application's credential (the launcher registers these, never the secret)."""
    return "sha256:" + hashlib.sha256(secret.encode()).hexdigest()


def new_message_id() -> str:
    return str(uuid.uuid4())


def service_path(service_id: str, path: str = "") -> str:
    """`/r1/INSTANCE/CLASS/MEMBER/APPLICATION/SERVICE/path`, each identifier segment percent-encoded."""
    parts = service_id.strip("/").split("/")
    if len(parts) != 5 or not all(parts):
        raise ValueError(f"service id must be INSTANCE/CLASS/MEMBER/APPLICATION/SERVICE, got {service_id!r}")
    prefix = "/r1/" + "/".join(quote(p, safe="") for p in parts)
    if path and not path.startswith("/"):
        path = "/" + path
    return prefix + path


class IMClient:
    def __init__(self, im_url: str, client_id: str, secret: str | None, timeout: float = 30.0):
        self.im_url = im_url.rstrip("/")
        self.client_id = client_id
        self.secret = secret
        self.timeout = timeout
        self._async: httpx.AsyncClient | None = None
        self._sync: httpx.Client | None = None

    def url(self, service_id: str, path: str = "") -> str:
        return self.im_url + service_path(service_id, path)

    def headers(self, message_id: str | None = None, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = {
            CLIENT_HEADER: self.client_id,
            MESSAGE_ID_HEADER: message_id or current_message_id.get() or new_message_id(),
        }
        if self.secret:
            headers[SECRET_HEADER] = self.secret
        if extra:
            headers.update(extra)
        return headers

    async def request(
        self,
        service_id: str,
        method: str,
        path: str = "",
        *,
        message_id: str | None = None,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        if self._async is None:
            self._async = httpx.AsyncClient(timeout=self.timeout, verify=client_context())
        return await self._async.request(
            method, self.url(service_id, path), headers=self.headers(message_id, headers), **kwargs
        )

    def request_sync(
        self,
        service_id: str,
        method: str,
        path: str = "",
        *,
        message_id: str | None = None,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        if self._sync is None:
            self._sync = httpx.Client(timeout=self.timeout, verify=client_context())
        return self._sync.request(
            method, self.url(service_id, path), headers=self.headers(message_id, headers), **kwargs
        )

    async def aclose(self) -> None:
        if self._async is not None:
            await self._async.aclose()
        if self._sync is not None:
            self._sync.close()
