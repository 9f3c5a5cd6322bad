"""publishEvent (`POST /r1/{instanceId}/{memberClass}/{memberCode}/{applicationCode}/pub/v1/{eventType}`)
served ahead of FastAPI's routing, as `proxy/forward.py` serves `/r1` service calls: FastAPI's routing,
dependency solving and body model were a large part of the IM's CPU per published event (README, Benchmark).

It answers as the route in `views.py` does, with the same functions: the room and its client
(`dependencies.open_room`), the right (`views.may_publish`), the body (`PublishEvent`), the publication
(`views.publish_event`), and refusals through the app's own exception handlers. It sits inside the common
middlewares (body bounds, NUL refusal, message id), which apply to it as to any route. The route stays: it
documents the operation in `/openapi.json` and answers the bodies FastAPI refuses in words of its own (no
JSON content type, not JSON, not an object), which this handler passes on to it, read once more from memory.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from services.common.errors import DomainError
from services.common.guard import replay

from ..dependencies import open_room
from .schemas import PublishEvent
from .views import may_publish, publish_event

if TYPE_CHECKING:
    from ..runtime import IMRuntime

PATH_PARAMS = ("instanceId", "memberClass", "memberCode", "applicationCode", "eventType")


def publish_params(path: str) -> dict[str, str] | None:
    """The route's path parameters when `path` is `/r1/I/C/M/A/pub/v1/T`, else None."""
    parts = path.split("/")  # ['', 'r1', I, C, M, A, 'pub', 'v1', T]
    if len(parts) != 9 or parts[1] != "r1" or parts[6] != "pub" or parts[7] != "v1" or not all(parts[2:]):
        return None
    return dict(zip(PATH_PARAMS, (*parts[2:6], parts[8]), strict=True))


def json_object(content_type: str | None, body: bytes) -> dict | None:
    """The body when FastAPI would read it as a JSON object, else None (the route's answer is FastAPI's)."""
    if content_type is None or content_type.split(";", 1)[0].strip().lower() != "application/json":
        return None
    try:
        document = json.loads(body)
    except Exception:  # noqa: BLE001 - whatever the reason, the route says it in FastAPI's words
        return None
    return document if isinstance(document, dict) else None


class PublishPath:
    """An ASGI middleware, innermost (just ahead of routing); every other request passes through."""

    def __init__(self, app: ASGIApp, im: IMRuntime):
        self.app = app
        self.im = im

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        params = None
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"].startswith("/r1/"):
            params = publish_params(scope["path"])
        if params is None:
            return await self.app(scope, receive, send)
        await self.publish(scope, receive, send, params)

    async def publish(self, scope: Scope, receive: Receive, send: Send, params: dict[str, str]) -> None:
        scope["path_params"] = params  # the access log's path template names them as it does for the route
        request = Request(scope, receive)
        try:
            body = await request.body()
        except ClientDisconnect:  # the body bounds have answered (413, 408), or the client has gone
            return
        document = json_object(request.headers.get("content-type"), body)
        response = None
        if document is not None:
            try:
                response = await self.answer(request, params, document)
            except DomainError as exc:
                response = await _exception_handler(scope["app"], exc)(request, exc)
        if response is None:  # a body FastAPI refuses in words of its own: the route answers
            return await self.app(scope, replay(body, receive), send)
        await response(scope, receive, send)

    async def answer(self, request: Request, params: dict[str, str], document: dict) -> Response | None:
        """201 and the event's id, or None when the route is to answer. In the route's order: the caller and
        its right, then the body's fields."""
        event_type = params["eventType"]
        room = "/".join(params[name] for name in PATH_PARAMS[:4])
        call = open_room(self.im, request.headers, room)
        may_publish(call, event_type)
        try:
            publication = PublishEvent.model_validate(document)
        except ValidationError:
            return None
        return JSONResponse(await publish_event(call, event_type, publication), status_code=201)


def _exception_handler(app: Starlette, exc: Exception) -> Callable[[Request, Exception], Awaitable[Response]]:
    """The handler the app answers `exc` with when a route raises it (found as Starlette finds it: by class)."""
    handlers = app.exception_handlers
    return next(handlers[cls] for cls in type(exc).__mro__ if cls in handlers)
