"""A provider serves a non-public path only to a request the IM vouches for (ARCHITECTURE §9).

Each service declares a `RouteTable`: which of its paths belong to which of its IM services, and which
are public (health, docs, login pages, endpoints with their own authentication such as OIDC). The
`IMGuardMiddleware` reads the request body (bounded), and for a path of a service checks the IM assertion
against this exact exchange: the service, method, path, query and body hash, once. Paths the table does
not list are refused: a new route is unreachable until someone decides who may call it.

With `require_mtls` (`sandbox up --mtls`), the IM's calls are taken only on the service's TLS listener, which
accepts no connection without the IM's client certificate (sandbox/serve.py): the plain port then serves a
service's paths to the operator only.
"""

from __future__ import annotations

import functools
import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .assertion import ASSERTION_HEADER, AssertionVerifier, Exchange, InvalidAssertion
from .logs import LOG_REASON

log = logging.getLogger(__name__)

PUBLIC = "(public)"
ALWAYS_PUBLIC = ("/health", "/ready", "/docs", "/openapi.json", "/redoc")
_ASSERTION = ASSERTION_HEADER.lower().encode()
MISSING_ASSERTION = (
    f"missing header {ASSERTION_HEADER}: this route answers only requests forwarded by the Information Mediator "
    "(call it through the IM's /r1/... address with your application's credentials)"
)
PLAIN_PORT = (
    "this route is served to the Information Mediator only over mutual TLS (this sandbox runs with --mtls): "
    "call it through the IM's /r1/... address with your application's credentials"
)


def _under(path: str, prefix: str) -> bool:
    if prefix == "/":
        return path == "/"
    return path == prefix or path.startswith(prefix.rstrip("/") + "/")


@dataclass(frozen=True)
class RouteTable:
    """Path prefixes per IM service code, and the public ones; the longest matching prefix decides."""

    services: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    public: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        owners = [(p, code) for code, prefixes in self.services.items() for p in prefixes]
        owners += [(p, PUBLIC) for p in (*ALWAYS_PUBLIC, *self.public)]
        object.__setattr__(self, "_ordered", sorted(owners, key=lambda o: len(o[0]), reverse=True))
        # Every request asks; the same few paths come back again and again (a few per cent of a cheap request).
        object.__setattr__(self, "_owners", functools.lru_cache(maxsize=4096)(self._owner))

    def owner(self, path: str) -> str | None:
        """The service code that `path` belongs to, `PUBLIC`, or None when no entry lists it."""
        return self._owners(path)

    def _owner(self, path: str) -> str | None:
        return next((code for prefix, code in self._ordered if _under(path, prefix)), None)


class BodyTooLarge(Exception):
    pass


async def read_body(receive: Receive, limit: int) -> bytes:
    body = bytearray()
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        body += message.get("body", b"")
        if len(body) > limit:
            raise BodyTooLarge
        more = message.get("more_body", False)
    return bytes(body)


def replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def again() -> Message:
        nonlocal sent
        if sent:
            return await receive()  # waits for the client's disconnect, as the original would
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return again


def target(scope: Scope) -> str:
    """The path and query exactly as received (what the IM signed as `htu`)."""
    raw = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
    query = scope.get("query_string", b"").decode("latin-1")
    return raw + ("?" + query if query else "")


class IMGuardMiddleware:
    def __init__(self, app: ASGIApp, table: RouteTable):
        self.app = app
        self.table = table

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        owner = self.table.owner(scope["path"])
        if owner == PUBLIC:
            return await self.app(scope, receive, send)
        state = scope["app"].state
        token = next((v.decode("latin-1") for k, v in scope["headers"] if k == _ASSERTION), None)
        if token is None and not state.settings.require_im_assertion:
            return await self.app(scope, receive, send)
        operator = getattr(state, "is_operator", None)
        if token is None and owner is not None and operator is not None and operator(Request(scope)):
            return await self.app(scope, receive, send)  # the operator's own credential, checked by the route too
        if owner is None:
            return await self._refuse(scope, receive, send, 404, "not found")
        if state.settings.require_mtls and scope.get("scheme") != "https":
            return await self._refuse(scope, receive, send, 403, PLAIN_PORT)
        if token is None:
            return await self._refuse(scope, receive, send, 401, MISSING_ASSERTION)
        try:
            body = await read_body(receive, state.settings.max_request_bytes)
        except BodyTooLarge:
            return await self._refuse(scope, receive, send, 413, "request body too large")
        own_id = state.settings.im_client
        expected = Exchange(
            client="",
            service=f"{own_id}/{owner}" if own_id else owner,
            method=scope["method"],
            path=target(scope),
            body_sha256=hashlib.sha256(body).hexdigest(),
        )
        verifier: AssertionVerifier = state.assertion_verifier
        try:
            if verifier.has_keys:
                call = verifier.verify(token, expected)
            else:  # the first call fetches the IM's keys: not on the event loop
                call = await run_in_threadpool(verifier.verify, token, expected)
        except InvalidAssertion as exc:
            return await self._refuse(scope, receive, send, exc.status, str(exc))
        scope.setdefault("state", {})["im_call"] = call
        await self.app(scope, replay(body, receive), send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, status: int, message: str) -> None:
        scope.setdefault("state", {})[LOG_REASON] = message.split(":")[0]
        request = Request(scope)
        render = getattr(scope["app"].state, "error_renderer", None)
        response: Response = (
            render(request)(request, status, message, [])
            if render
            else JSONResponse({"error": message}, status_code=status)
        )
        await response(scope, receive, send)
