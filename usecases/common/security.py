"""Browser hardening shared by the use cases: security headers, CSRF tokens and the login's browser binding.

CSRF: the token is an HMAC of the (secret, HttpOnly) session cookie, so it needs no storage. Page forms
carry it as the hidden field `csrf_token`. Cookie-authenticated unsafe calls under /api/ are refused when
the browser says they come from another origin (`Sec-Fetch-Site`, else `Origin` against `Host`: the
standard-header check OWASP recommends) unless they carry the token in `X-CSRF-Token` (`GET /auth/csrf`).
Non-browser clients send neither header and are no CSRF vector. Calls with `Authorization: Bearer` carry
no ambient credential. SameSite alone is not enough: all services run on 127.0.0.1, so every port is the
same site."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from fastapi import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.common.errors import APIError

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
LOGIN_COOKIE_SECONDS = 600
# Scripts only from the use case itself (static/live.js), never inline; the templates use an inline <style>
# block and style attributes.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
]
# FastAPI's interactive docs load Swagger UI from a CDN with inline scripts.
DOCS_PATHS = ("/docs", "/redoc")


def csrf_token(session_token: str) -> str:
    return hmac.new(session_token.encode(), b"usecase-csrf-v1", hashlib.sha256).hexdigest()


def csrf_token_for(request: Request, cookie: str) -> str:
    session_token = request.cookies.get(cookie)
    return csrf_token(session_token) if session_token else ""


def _needs_token(request_method: str, cookies: dict, headers: dict, cookie: str) -> bool:
    bearer = headers.get("authorization", "").lower().startswith("bearer ")
    return request_method not in SAFE_METHODS and bool(cookies.get(cookie)) and not bearer


def _matches(session_token: str, presented: str | None) -> bool:
    return bool(presented) and hmac.compare_digest(csrf_token(session_token), str(presented))


CSRF_REFUSED = {"error": "forbidden", "message": "missing or wrong CSRF token; reload the page and try again"}


def form_guard(cookie: str) -> Callable[[Request], Awaitable[None]]:
    """A router dependency for the server-rendered pages: unsafe requests must carry the form field."""

    async def check(request: Request) -> None:
        if not _needs_token(request.method, request.cookies, request.headers, cookie):
            return
        presented = request.headers.get(CSRF_HEADER)
        if presented is None and "form" in request.headers.get("content-type", ""):
            presented = (await request.form()).get(CSRF_FIELD)  # Starlette caches the parsed form
        if not _matches(request.cookies[cookie], presented if isinstance(presented, str) else None):
            raise APIError(403, CSRF_REFUSED)

    return check


def login_cookie(cookie: str) -> str:
    """The pre-login cookie that binds an OIDC `state` to the browser that started the login."""
    return f"{cookie}_login"


def is_https(settings: object) -> bool:
    return str(getattr(settings, "base_url", "")).lower().startswith("https://")


class SecurityMiddleware:
    """Security headers on every response; the CSRF header on cookie-authenticated unsafe /api/ calls."""

    def __init__(self, app: ASGIApp, cookie: str) -> None:
        self.app, self.cookie = app, cookie

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        if request.url.path.startswith("/api/") and _needs_token(
            request.method, request.cookies, request.headers, self.cookie
        ):
            token_ok = _matches(request.cookies[self.cookie], request.headers.get(CSRF_HEADER))
            if not token_ok and _cross_origin(request):
                await JSONResponse(CSRF_REFUSED, status_code=403)(scope, receive, _with_headers(send, scope))
                return
        await self.app(scope, receive, _with_headers(send, scope))


def _cross_origin(request: Request) -> bool:
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site:
        return fetch_site not in ("same-origin", "none")
    origin = request.headers.get("origin")
    return bool(origin) and urlsplit(origin).netloc.lower() != request.headers.get("host", "").lower()


def _with_headers(send: Send, scope: Scope) -> Send:
    docs = scope["path"].startswith(DOCS_PATHS)

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            present = {name.lower() for name, _ in message.get("headers", [])}
            extra = [(n, v) for n, v in HEADERS if n not in present and not (docs and n == HEADERS[0][0])]
            message["headers"] = list(message.get("headers", [])) + extra
        await send(message)

    return sending
