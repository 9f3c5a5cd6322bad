"""Error bodies in each API generation's documented shape (never FastAPI's 422).

The raw request body is kept in the ASGI scope by `BodyCacheMiddleware` so that a validation error can
still echo the request id the client sent.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, Header, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.common.callback_targets import RefusedTarget, check_callback_target
from services.common.errors import APIError, ErrorRenderer, error_shape

from .dependencies import IMCaller, Settings

BODY_KEY = "payments.raw_body"
SUCCESS, FAILURE = "00", "01"
V1_ID_LENGTH = 12  # RequestID, SourceBBID, BatchID of the 1.0 files


class BodyCacheMiddleware:
    """Keeps a copy of JSON request bodies in the scope (read only when an error must echo the request id)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            return await self.app(scope, receive, send)
        chunks, more = [], True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        scope[BODY_KEY] = body
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def request_id_of(request: Request) -> str:
    raw = request.scope.get(BODY_KEY)
    if raw:
        try:
            data = json.loads(raw)
        except ValueError:
            data = None
        if isinstance(data, dict):
            for key in ("RequestID", "requestID", "requestId"):
                value = data.get(key)
                if isinstance(value, str):
                    return value[:40]
    return request.headers.get("X-CorrelationID", "")[:40] or request.query_params.get("requestId", "")[:40]


def answers(model: Any, status: int = 200) -> dict[str, Any]:
    """Route options documenting the success body as `model` in the OpenAPI document, without passing what the
    route returns through it: the bodies the routes build are the wire format, exactly (no coercion, no
    dropped or added fields)."""
    return {"response_model": None, "responses": {status: {"model": model}}}


def v1_body(code: str, description: str, request_id: str | None) -> dict[str, Any]:
    """The 1.0 answer; `RequestID` only when there is one to echo (the files give it no `required`)."""
    body = {"ResponseCode": code, "ResponseDescription": description[:200]}
    if request_id:
        body["RequestID"] = request_id
    return body


def v3_body(code: str, description: str, request_id: str) -> dict[str, Any]:
    return {"responseCode": code, "responseDescription": description[:200], "requestID": request_id}


def v1_request_id(request: Request) -> str | None:
    """The client's RequestID when it has the 1.0 files' format (exactly 12 characters), else None: an answer
    never echoes a value its schema does not allow."""
    request_id = request_id_of(request)
    return request_id if len(request_id) == V1_ID_LENGTH else None


def v1_error(request: Request, status: int, message: str, details: list) -> Response:
    return JSONResponse(v1_body(FAILURE, message, v1_request_id(request)), status_code=status)


def v1_validation_answer(request: Request, status: int, message: str, details: list) -> Response:
    """`/prepayment-validation` documents one answer, 200: invalid input is ResponseCode "01" with a description."""
    if status == 400:
        status = 200
    return v1_error(request, status, message, details)


def v3_error(request: Request, status: int, message: str, details: list) -> Response:
    return JSONResponse(v3_body(FAILURE, message, request_id_of(request)), status_code=status)


def v3_mapper_error(request: Request, status: int, message: str, details: list) -> Response:
    # RegisterBeneficiaryRequest.yml documents a PascalCase 400 (RequestID up to 12 characters); the other
    # mapper operations use camelCase.
    if request.method == "POST":
        request_id = request_id_of(request)
        body = v1_body(FAILURE, message, request_id if len(request_id) <= V1_ID_LENGTH else None)
        return JSONResponse(body, status_code=status)
    return v3_error(request, status, message, details)


def v3_voucher_error(request: Request, status: int, message: str, details: list) -> Response:
    if request.method == "GET":  # VoucherStatus.yml's 400 body
        serial = request.url.path.rstrip("/").rsplit("/", 1)[-1]
        return JSONResponse(
            {"status": 9, "message": message, "serialNumber": serial[:20], "value": 0.0}, status_code=status
        )
    if request.query_params.get("command") == "cancel" and b"voucherInstructions" in request.scope.get(BODY_KEY, b""):
        return v3_error(request, status, message, details)
    return v1_error(request, status, message, details)


def fail_v1(status: int, description: str, request_id: str | None) -> APIError:
    return APIError(status, v1_body(FAILURE, description, request_id))


def fail_v3(status: int, description: str, request_id: str) -> APIError:
    return APIError(status, v3_body(FAILURE, description, request_id))


async def valid_callback_url(
    settings: Settings,
    caller: IMCaller,
    x_callback_url: str | None = Header(default=None, alias="X-Callback-URL", include_in_schema=False),
) -> None:
    """Router dependency: the callback must be an IM service of the caller or allow-listed (see
    services/common/callback_targets.py); anything else is refused up front, in the path's error shape."""
    if x_callback_url is None:
        return
    try:
        check_callback_target(
            x_callback_url, caller.client if caller else None, settings.im_url, settings.callback_allow_list
        )
    except RefusedTarget as exc:
        raise HTTPException(400, f"X-Callback-URL {exc}") from exc


def shaped_router(render: ErrorRenderer, tags: list[str], **options: Any) -> APIRouter:
    """A router of a GovStack API: its routes answer errors with `render` (the shape their spec file documents)
    and refuse a callback URL the caller may not name."""
    return APIRouter(tags=tags, dependencies=[Depends(valid_callback_url)], route_class=error_shape(render), **options)
