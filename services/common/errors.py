"""Error helpers: a service answers in its spec's error shape, never FastAPI's default 422.

A service installs `install_error_handlers(app, render)` where `render(request, status, message, details)`
builds the body its spec documents. A router whose spec documents another shape says so where it is made:
`APIRouter(route_class=error_shape(render))`; its routes' errors (validation, 404/405 raised by a route,
`DomainError`) then take that shape, also when the IM guard refuses a call before routing. A path no route
owns gets the service's `render`.

Errors a route cannot recover from are raised, not caught: `APIError` answers an exact body and status;
a service's domain exceptions derive from `DomainError` and are rendered in the route's shape by one
registered handler (a service overrides `DomainError.response` where its spec needs codes of its own).

A service with pages for people sets `app.state.error_page` (`PageRenderer`): it answers a browser asking for
a page with a page, and returns None for every other client, which gets the documented shape. Every error on
a page route, an `APIError` included, then reaches a person as a page.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from .logs import LOG_REASON, path_template

log = logging.getLogger(__name__)

ErrorRenderer = Callable[[Request, int, str, list[dict[str, Any]]], Response]
PageRenderer = Callable[[Request, int, str], Response | None]


class APIError(Exception):
    """An error answered verbatim: `body` is already in the endpoint's documented shape."""

    def __init__(self, status_code: int, body: Any, headers: Mapping[str, str] | None = None):
        super().__init__(f"{status_code}: {body}")
        self.status_code = status_code
        self.body = body
        self.headers = dict(headers or {})


class DomainError(Exception):
    """A refusal a service's logic decides (not found, conflict, not allowed…), raised from anywhere below a
    route and answered by one handler in the shape of the route that was called."""

    status_code = 400

    def __init__(self, message: str, status_code: int | None = None, details: list[dict[str, Any]] | None = None):
        super().__init__(message)
        self.message = message
        if status_code is not None:
            self.status_code = status_code
        self.details = details or []

    def response(self, request: Request, render: ErrorRenderer) -> Response:
        return render(request, self.status_code, self.message, self.details)


def error_shape(render: ErrorRenderer) -> type[APIRoute]:
    """A route class for `APIRouter(route_class=...)`: the routes it makes answer errors with `render`."""
    return type(
        f"ShapedRoute_{getattr(render, '__name__', 'render')}", (APIRoute,), {"error_renderer": staticmethod(render)}
    )


def route_renderer(scope: dict[str, Any]) -> ErrorRenderer | None:
    """The error shape of the route serving `scope`: the one routing chose, or, before routing (middleware),
    the first route that matches."""
    route = scope.get("route")
    if route is None and "app" in scope:
        route = _matching_route(scope["app"].router.routes, scope)
    return getattr(route, "error_renderer", None)


def _matching_route(routes: list[Any], scope: dict[str, Any]) -> Any:
    for candidate in routes:
        match, _ = candidate.matches(scope)
        if match is Match.NONE:
            continue
        # FastAPI keeps an included router whole (`original_router`): the route is found inside it.
        while hasattr(candidate, "original_router"):
            inner = getattr(candidate, "_match", None)
            found = inner(scope)[2] if inner is not None else None
            if found is None:
                return candidate.original_router.route_class
            candidate = found
        return candidate
    return None


def default_render(request: Request, status: int, message: str, details: list[dict[str, Any]]) -> Response:
    body: dict[str, Any] = {"error": message}
    if details:
        body["details"] = details
    return JSONResponse(body, status_code=status)


def describe_validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    """Pydantic errors as `{field, message}` pairs a client can read (no input echoed back)."""
    out = []
    for err in exc.errors():
        if err.get("type") == "json_invalid":
            out.append({"field": "body", "message": _where_json_breaks(err, exc.body)})
            continue
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body",)]
        out.append({"field": ".".join(loc) or "body", "message": err.get("msg", "invalid")})
    return out


def _where_json_breaks(err: dict[str, Any], document: Any) -> str:
    """'invalid JSON at line 2, column 5: Expecting value' from FastAPI's error (which gives the offset)."""
    reason = (err.get("ctx") or {}).get("error") or "not JSON"
    offset = next((p for p in err.get("loc", ()) if isinstance(p, int)), None)
    if offset is None or not isinstance(document, str | bytes):
        return f"invalid JSON: {reason}"
    before = document[:offset]
    newline = "\n" if isinstance(before, str) else b"\n"
    line = before.count(newline) + 1
    column = offset - (before.rfind(newline) + 1) + 1
    return f"invalid JSON at line {line}, column {column}: {reason}"


def _as_page(request: Request, exc: APIError) -> Response | None:
    """The service's error page for a browser's page request (see `PageRenderer`), else None."""
    page: PageRenderer | None = getattr(request.app.state, "error_page", None)
    if page is None:
        return None
    body = exc.body if isinstance(exc.body, dict) else {}
    said = body.get("message") or body.get("reason") or body.get("error") or ""
    response = page(request, exc.status_code, str(said))
    if response is not None:
        response.headers.update(exc.headers)
    return response


def summarize(details: list[dict[str, Any]]) -> str:
    return "; ".join(f"{d['field']}: {d['message']}" for d in details) or "invalid request"


def install_error_handlers(app: FastAPI, render: ErrorRenderer = default_render) -> None:
    def renderer_for(request: Request) -> ErrorRenderer:
        return route_renderer(request.scope) or render

    app.state.error_renderer = renderer_for  # for middleware that answers before routing (guard.py)

    @app.exception_handler(APIError)
    async def _api_error(request: Request, exc: APIError) -> Response:
        page = _as_page(request, exc)
        if page is not None:
            return page
        if isinstance(exc.body, (bytes, str)):
            return Response(exc.body, status_code=exc.status_code, headers=exc.headers)
        return JSONResponse(exc.body, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> Response:
        setattr(request.state, LOG_REASON, exc.message[:200])
        return exc.response(request, renderer_for(request))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        details = describe_validation_errors(exc)
        setattr(request.state, LOG_REASON, "invalid " + ", ".join(sorted({d["field"] for d in details})))
        return renderer_for(request)(request, 400, summarize(details), details)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        response = renderer_for(request)(request, exc.status_code, str(exc.detail), [])
        for k, v in (exc.headers or {}).items():
            response.headers[k] = v
        return response

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, path_template(request.scope))
        setattr(request.state, LOG_REASON, f"unhandled {type(exc).__name__}, traceback above")
        return renderer_for(request)(request, 500, "internal error", [])
