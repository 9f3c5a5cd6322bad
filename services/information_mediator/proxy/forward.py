"""The `/r1/...` service access flow: authenticate the client application, check its access right,
forward the request to the provider (streamed both ways), and log the exchange.

It runs as a pure ASGI middleware ahead of FastAPI's routing; paths it does not handle (directory
metaservices, pub/sub, admin APIs) fall through to the routes.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import re
import time
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

from services.common.assertion import ASSERTION_HEADER
from services.common.assertion import Exchange as AssertedExchange
from services.common.clock import utcnow
from services.common.guard import BodyTooLarge, read_body
from services.common.im_client import CORRELATION_HEADER, SECRET_HEADER
from services.common.logs import RECORDED_ELSEWHERE

from ..messagelog.record import exchange_record
from ..messagelog.writer import StoreError
from ..registry.service import ServiceEntry, Snapshot
from .errors import (
    ACCESS_DENIED,
    AUTHENTICATION_FAILED,
    BAD_REQUEST,
    INVALID_CLIENT,
    LOG_FAILURE,
    NETWORK_ERROR,
    NO_PEER,
    REQUEST_TIMEOUT,
    REQUEST_TOO_LARGE,
    SERVICE_DISABLED,
    TIMEOUT,
    UNKNOWN_SERVICE,
    IMError,
)
from .upstream import Origin, UpstreamClosed, UpstreamError, UpstreamResponse, UpstreamTimeout

if TYPE_CHECKING:  # the runtime imports Exchange from here: importing it at run time would be circular
    from ..runtime import IMRuntime

# ASGI request headers: (lowercase name, value) pairs.
Headers = Iterable[tuple[bytes, bytes]]

CLIENT_HEADERS = (b"information-mediator-client", b"x-govstack-client", b"x-road-client")
CORRELATION_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
# Hop-by-hop headers (RFC 9110 §7.6.1) and what only the IM may set toward a provider.
DROP_REQUEST = {
    b"connection",
    b"keep-alive",
    b"proxy-authenticate",
    b"proxy-authorization",
    b"te",
    b"trailer",
    b"trailers",
    b"transfer-encoding",
    b"upgrade",
    b"host",
    b"content-length",
    SECRET_HEADER.lower().encode(),
    ASSERTION_HEADER.lower().encode(),
    b"x-road-id",
    b"x-road-service",
    CORRELATION_HEADER.lower().encode(),
    *CLIENT_HEADERS,
}
DROP_RESPONSE = {
    b"connection",
    b"keep-alive",
    b"proxy-authenticate",
    b"proxy-authorization",
    b"te",
    b"trailer",
    b"trailers",
    b"transfer-encoding",
    b"upgrade",
    b"content-length",
    b"date",
    b"server",
    b"x-road-id",
    b"x-road-client",
    b"x-road-service",
    b"x-road-request-hash",
    CORRELATION_HEADER.lower().encode(),
}
# An answer up to this size that the provider sent whole is held until the exchange is logged and then sent
# in one piece, with its length; a longer one is streamed.
HOLD_BYTES = 256 * 1024
NOT_SERVICES = {"listMethods", "allowedMethods", "getOpenAPI", "api", "pub", "pull"}


def split_service_path(raw_path: bytes) -> tuple[str, bytes] | None:
    """`/r1/I/C/M/A/S/rest` -> ("I/C/M/A/S", b"/rest"); None when the path is not a service call."""
    parts = raw_path.split(b"/", 7)  # ['', 'r1', I, C, M, A, S, rest]
    if len(parts) < 7 or parts[1] != b"r1" or not all(parts[2:7]):
        return None
    ids = [unquote(p.decode("latin-1")) for p in parts[2:7]]
    if ids[4] in NOT_SERVICES:
        return None
    rest = b"/" + parts[7] if len(parts) == 8 else b""
    return "/".join(ids), rest


class Exchange:
    """What the message log and monitoring record about one call."""

    __slots__ = (
        "message_id",
        "correlation_id",
        "client",
        "service",
        "method",
        "path",
        "status",
        "error_type",
        "started",
        "request_at",
        "req_hasher",
        "resp_hasher",
        "req_size",
        "resp_size",
        "req_body",
        "resp_body",
    )

    def __init__(self, message_id: str, method: str, path: str, keep_bodies: bool):
        self.message_id, self.method, self.path = message_id, method, path
        self.correlation_id: str | None = None
        self.client, self.service, self.status, self.error_type = "", "", 0, None
        self.started = time.perf_counter()
        self.request_at = utcnow()
        self.req_hasher, self.resp_hasher = hashlib.sha256(), hashlib.sha256()
        self.req_size = self.resp_size = 0
        self.req_body: bytearray | None = bytearray() if keep_bodies else None
        self.resp_body: bytearray | None = bytearray() if keep_bodies else None

    def record(self, body_limit: int) -> dict:
        return exchange_record(  # by position (see exchange_record)
            self.message_id,
            "rest",
            self.client,
            self.service,
            self.method,
            self.path,
            self.status,
            self.error_type,
            self.request_at,
            self.started,
            self.req_size,
            self.resp_size,
            self.req_hasher.hexdigest(),
            self.resp_hasher.hexdigest(),
            bytes(self.req_body[:body_limit]) if self.req_body is not None else None,
            bytes(self.resp_body[:body_limit]) if self.resp_body is not None else None,
            self.correlation_id,
        )


def authenticate_client(snapshot: Snapshot, claimed: str | None, secret: str | None) -> str:
    """The authenticated client id (INSTANCE/CLASS/MEMBER/APPLICATION), or an IMError. Shared with pub/sub."""
    if claimed is None:
        raise IMError(BAD_REQUEST, "missing client header Information-Mediator-Client (or X-Road-Client)")
    client_id = claimed.strip()
    parts = client_id.split("/")
    if len(parts) != 4 or not all(parts):
        raise IMError(INVALID_CLIENT, "client must be INSTANCE/CLASS/MEMBER/APPLICATION")
    if parts[0] != snapshot.instance:
        raise IMError(INVALID_CLIENT, f"unknown instance {parts[0]!r}")
    if not snapshot.authenticate(client_id, secret):
        missing = "" if secret else " (missing header Information-Mediator-Client-Secret)"
        raise IMError(AUTHENTICATION_FAILED, f"client {client_id} could not be authenticated{missing}")
    return client_id


class ProxyMiddleware:
    def __init__(self, app: ASGIApp, im: IMRuntime):
        self.app = app
        self.im = im

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/r1/"):
            return await self.app(scope, receive, send)
        target = split_service_path(scope.get("raw_path") or scope["path"].encode())
        if target is None:
            return await self.app(scope, receive, send)
        await self.handle(scope, receive, send, *target)

    async def handle(self, scope: Scope, receive: Receive, send: Send, service_id: str, rest: bytes) -> None:
        scope.setdefault("state", {})[RECORDED_ELSEWHERE] = True  # in the message log, refusals included
        headers = scope["headers"]
        query = scope.get("query_string", b"")
        ex = Exchange(
            str(uuid.uuid4()),  # the IM assigns every message id; a client's own id is its correlation id
            scope["method"],
            rest.decode("latin-1") + ("?" + query.decode("latin-1") if query else ""),
            self.im.settings.log_bodies,
        )
        ex.service = service_id
        try:
            ex.correlation_id = _correlation_id(headers)
            client_id = self._authenticate(headers)
            ex.client = client_id
            entry = self._authorize(service_id, client_id, scope["method"], rest)
            async with self.im.client_slots.slot(client_id):
                body = await self._read_body(receive, entry, ex)
                await self._forward(scope, send, entry, client_id, rest, query, body, ex)
        except IMError as err:
            ex.status, ex.error_type = err.status, err.type
            with contextlib.suppress(StoreError):  # an error carries no provider data: answer it even unlogged
                await self.im.log_exchange(ex)
            await _send_error(send, err, ex)
        except Exception:  # the client went away mid-relay, or the log failed: log what happened, best effort
            ex.error_type = ex.error_type or "Server.ServerProxy.Aborted"
            with contextlib.suppress(Exception):
                await self.im.log_exchange(ex)
            raise

    def _authenticate(self, headers: Headers) -> str:
        claimed = next((v for k, v in headers if k in CLIENT_HEADERS), None)
        return authenticate_client(
            self.im.snapshot,
            claimed.decode("latin-1") if claimed is not None else None,
            _header(headers, SECRET_HEADER.lower().encode()),
        )

    async def _read_body(self, receive: Receive, entry: ServiceEntry, ex: Exchange) -> bytes:
        """The whole request body (its hash is signed toward the provider), bounded in size and time."""
        settings = self.im.settings
        limit = settings.max_request_bytes_per_service.get(entry.id, settings.max_request_bytes)
        try:
            async with asyncio.timeout(settings.request_body_timeout):
                body = await read_body(receive, limit)
        except BodyTooLarge as exc:
            raise IMError(REQUEST_TOO_LARGE, f"request body larger than {limit} bytes") from exc
        except TimeoutError as exc:
            raise IMError(REQUEST_TIMEOUT, "the request body did not arrive in time") from exc
        _count(ex, body, response=False)
        return body

    def _authorize(self, service_id: str, client_id: str, method: str, rest: bytes) -> ServiceEntry:
        entry = self.im.snapshot.services.get(service_id)
        if entry is None:
            instance = service_id.split("/", 1)[0]
            if instance in self.im.snapshot.federated_instances:
                raise IMError(NO_PEER, f"no peer IM configured for instance {instance}: {service_id} cannot be reached")
            raise IMError(UNKNOWN_SERVICE, f"unknown service {service_id}")
        if not entry.enabled:
            raise IMError(SERVICE_DISABLED, f"service {service_id} is disabled")
        if client_id not in entry.allowed:
            raise IMError(ACCESS_DENIED, f"client {client_id} has no access right to {service_id}")
        if not entry.allows(client_id, method, rest.decode("latin-1")):
            raise IMError(ACCESS_DENIED, f"client {client_id} has no access right to {method} on {service_id}")
        return entry

    async def _forward(
        self,
        scope: Scope,
        send: Send,
        entry: ServiceEntry,
        client_id: str,
        rest: bytes,
        query: bytes,
        body: bytes,
        ex: Exchange,
    ) -> None:
        origin, base_path = _origin_and_path(entry.url)
        path = (base_path + rest.decode("latin-1")) or "/"
        target = path + ("?" + query.decode("latin-1") if query else "")
        assertion = self.im.sign(
            AssertedExchange(client_id, entry.id, scope["method"], target, ex.req_hasher.hexdigest(), ex.message_id)
        )
        outgoing = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"] if k not in DROP_REQUEST]
        outgoing += [
            ("Information-Mediator-Client", client_id),
            ("X-Road-Client", client_id),
            ("X-Road-Id", ex.message_id),
            (CORRELATION_HEADER, ex.correlation_id or ex.message_id),
            ("X-Road-Service", entry.id),
            (ASSERTION_HEADER, assertion),
        ]
        has_body = bool(body) or any(k in (b"content-length", b"transfer-encoding") for k, _ in scope["headers"])
        try:
            response = await self.im.upstream.request(
                origin, scope["method"], target, outgoing, body if has_body else None
            )
        except UpstreamTimeout as exc:
            raise IMError(TIMEOUT, f"service {entry.id} did not answer in time") from exc
        except UpstreamClosed as exc:
            raise IMError(NETWORK_ERROR, f"service {entry.id} closed the connection") from exc
        except UpstreamError as exc:
            raise IMError(NETWORK_ERROR, f"service {entry.id} could not be reached") from exc
        try:
            await self._relay(send, response, client_id, entry.id, ex)
        finally:
            response.release()

    async def _relay(
        self, send: Send, response: UpstreamResponse, client_id: str, service_id: str, ex: Exchange
    ) -> None:
        """Relays the provider's answer. It completes only once the exchange is in the message log: an answer
        that has arrived whole (up to HOLD_BYTES) goes out in one message after the commit, with its length;
        a longer or slower one is streamed as it comes, and its last chunk waits for the commit."""
        ex.status = response.status
        headers = [(k, v) for k, v in response.raw_headers if k.lower() not in DROP_RESPONSE]
        headers += _xroad_headers(ex, client_id, service_id)
        stream = response.pieces()
        held: list[bytes] = []
        held_size = 0
        try:
            async for piece in stream:
                _count(ex, piece, response=True)
                held.append(piece)
                held_size += len(piece)
                if held_size > HOLD_BYTES or not response.ready:
                    break
            else:  # the whole body arrived: log, then answer in one go
                try:
                    await self.im.log_exchange(ex)
                except StoreError as exc:
                    raise IMError(LOG_FAILURE, "the exchange could not be written to the message log; retry") from exc
                whole = b"".join(held)
                if ex.method != "HEAD" and response.status not in (204, 304):
                    headers.append((b"content-length", str(len(whole)).encode()))
                await send({"type": "http.response.start", "status": response.status, "headers": headers})
                await send({"type": "http.response.body", "body": whole, "more_body": False})
                return
        except UpstreamTimeout as exc:
            raise IMError(TIMEOUT, f"service {service_id} did not answer in time") from exc
        except UpstreamError as exc:
            raise IMError(NETWORK_ERROR, f"service {service_id} broke the connection") from exc
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        await send({"type": "http.response.body", "body": b"".join(held), "more_body": True})
        try:
            async for piece in stream:
                _count(ex, piece, response=True)
                await send({"type": "http.response.body", "body": piece, "more_body": True})
        except UpstreamError:
            ex.error_type = "Server.ServerProxy.NetworkError"  # headers already sent: the body is cut short
        # Durable before complete: if the log cannot store the exchange, the client sees a broken response.
        await self.im.log_exchange(ex)
        await send({"type": "http.response.body", "body": b"", "more_body": False})


def _count(ex: Exchange, chunk: bytes, response: bool) -> None:
    if response:
        ex.resp_size += len(chunk)
        ex.resp_hasher.update(chunk)
        if ex.resp_body is not None:
            ex.resp_body += chunk
    else:
        ex.req_size += len(chunk)
        ex.req_hasher.update(chunk)
        if ex.req_body is not None:
            ex.req_body += chunk


@functools.lru_cache(maxsize=1024)
def _origin_and_path(service_url: str) -> tuple[Origin, str]:
    """`http://host:port/base` -> (("http", "host", port), "/base"): the provider sees `/base` + the rest."""
    parts = urlsplit(service_url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return (parts.scheme, parts.hostname or "", port), parts.path.rstrip("/")


def _correlation_id(headers: Headers) -> str | None:
    offered = _header(headers, b"x-road-id")
    if offered is None:
        return None
    if not CORRELATION_ID.fullmatch(offered):
        raise IMError(BAD_REQUEST, "X-Road-Id must be 1 to 64 characters of A-Z a-z 0-9 . _ : -")
    return offered


def _header(headers: Headers, name: bytes) -> str | None:
    for k, v in headers:
        if k == name:
            return v.decode("latin-1")
    return None


def _xroad_headers(ex: Exchange, client_id: str, service_id: str) -> list[tuple[bytes, bytes]]:
    correlation = [(b"x-road-correlation-id", ex.correlation_id.encode())] if ex.correlation_id else []
    return correlation + [
        (b"x-road-id", ex.message_id.encode()),
        (b"x-road-client", client_id.encode()),
        (b"x-road-service", service_id.encode()),
        (b"x-road-request-hash", ex.req_hasher.hexdigest().encode()),
    ]


async def _send_error(send: Send, err: IMError, ex: Exchange) -> None:
    body = err.body(ex.message_id)
    _count(ex, body, response=True)
    await send(
        {
            "type": "http.response.start",
            "status": err.status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"x-road-error", err.type.encode()),
                (b"x-road-id", ex.message_id.encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
