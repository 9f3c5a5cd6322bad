"""Who may read the trace, monitoring and metrics: the operator (admin token) or a viewer (viewer token).

Both come as `Authorization: Bearer <token>`. The trace page, opened in a browser by a demo audience, also
takes the viewer token as `?token=` and keeps it in an HttpOnly cookie scoped to the page, for the next visit;
its script sends the token as a Bearer token. The admin token is never taken from a URL or a cookie.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from pathlib import Path

from fastapi import Request, Response

from services.common.errors import APIError

from ..audit import service as audit
from ..proxy.errors import AUTHENTICATION_FAILED, IMError


@dataclass(frozen=True)
class Tokens:
    """The IM's Bearer credentials: the administrator's and the read-only viewer's."""

    admin: str
    viewer: str


VIEWER_COOKIE = "im_viewer_token"
TRACE_PAGE = "/ui/trace"
_NEEDED_PAGE = Path(__file__).with_name("templates") / "token_needed.html"


def _is_viewer_token(tokens: Tokens, presented: str | None) -> bool:
    return bool(presented) and hmac.compare_digest(presented.encode(), tokens.viewer.encode())


def has_bearer(request: Request, tokens: Tokens) -> bool:
    # audit.is_admin is the IM's Bearer check; the viewer token goes through the same one.
    return audit.is_admin(request, tokens.admin) or audit.is_admin(request, tokens.viewer)


def require_reader(request: Request, tokens: Tokens) -> None:
    """The trace, monitoring and metrics APIs: 401 in the IM's error shape without a credential."""
    if not has_bearer(request, tokens):
        message = "the IM's viewer or administrator token is required (Authorization: Bearer <token>)"
        raise IMError(AUTHENTICATION_FAILED, message, {"WWW-Authenticate": "Bearer"})


def page_viewer_token(request: Request, tokens: Tokens, url_token: str | None) -> str | None:
    """The trace page's check. The viewer token its script is to use (from the URL or the cookie; None when the
    caller came with a Bearer header); 401 with a short page telling where the token is without a credential."""
    for presented in (url_token, request.cookies.get(VIEWER_COOKIE)):
        if _is_viewer_token(tokens, presented):
            return presented
    if has_bearer(request, tokens):
        return None
    raise APIError(
        401, _NEEDED_PAGE.read_text(), {"Content-Type": "text/html; charset=utf-8", "WWW-Authenticate": "Bearer"}
    )


def remember_viewer(request: Request, response: Response, token: str) -> None:
    """A session cookie for the page only: never sent to `/r1/...`, where the IM relays headers to providers."""
    response.set_cookie(
        VIEWER_COOKIE,
        token,
        path=TRACE_PAGE,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
