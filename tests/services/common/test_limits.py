"""Request bodies are bounded in size and time (issue 16, finding 6), answered in the service's own error
shape, on a real uvicorn server."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

import httpx
import pytest
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

from services.common.app import create_service_app
from services.common.errors import install_error_handlers
from services.common.limits import BodyLimitMiddleware, HTTPLimits
from services.common.settings import ServiceSettings
from tests.support import LiveServer

MIGRATIONS = Path(__file__).parent / "empty_migrations"
MAX_BYTES, SECONDS = 1000, 1.0


def shape(request: Request, status: int, message: str, details: list) -> JSONResponse:
    return JSONResponse({"ResponseCode": str(status), "ResponseDescription": message}, status_code=status)


def _routes() -> APIRouter:
    router = APIRouter()

    @router.post("/echo")
    async def echo(request: Request) -> dict:
        return {"size": len(await request.body())}

    @router.get("/stream")
    async def stream() -> StreamingResponse:
        async def slowly():
            for _ in range(3):
                yield b"tick\n"
                await asyncio.sleep(SECONDS * 0.6)

        return StreamingResponse(slowly(), media_type="text/plain")

    return router


@pytest.fixture(scope="module")
def server():
    app = FastAPI()
    install_error_handlers(app, shape)
    app.include_router(_routes())
    app.add_middleware(BodyLimitMiddleware, max_bytes=MAX_BYTES, seconds=SECONDS)
    with LiveServer(app) as live:
        yield live


def _chunks(total: int):
    for _ in range(total // 100):
        yield b"x" * 100


def test_a_body_over_the_limit_is_refused_in_the_service_shape(server):
    with httpx.Client(base_url=server.url, timeout=10) as http:
        assert http.post("/echo", content=b"x" * MAX_BYTES).json() == {"size": MAX_BYTES}
        declared = http.post("/echo", content=b"x" * (MAX_BYTES + 1))
        assert declared.status_code == 413 and declared.json()["ResponseCode"] == "413"
        assert str(MAX_BYTES) in declared.json()["ResponseDescription"]
        chunked = http.post("/echo", content=_chunks(100 * MAX_BYTES))  # no Content-Length
        assert chunked.status_code == 413 and chunked.json()["ResponseCode"] == "413"
        assert http.post("/echo", content=_chunks(MAX_BYTES)).json() == {"size": MAX_BYTES}


def test_a_body_sent_too_slowly_is_refused_and_others_are_served(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        started = time.monotonic()
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\n")
        sock.sendall(b"only ten..")
        assert httpx.get(server.url + "/stream", timeout=10).status_code == 200  # served meanwhile
        answer = sock.recv(500)
        took = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert b'"ResponseCode":"408"' in answer
    assert SECONDS * 0.9 < took < SECONDS * 3, took


def test_a_long_response_after_a_complete_body_is_not_cut(server):
    r = httpx.get(server.url + "/stream", timeout=10)  # lasts longer than the body's time limit
    assert r.status_code == 200 and r.text == "tick\n" * 3


def test_limits_come_from_the_environment():
    limits = HTTPLimits.from_env({"SANDBOX_HTTP_MAX_HEADER_BYTES": "1024", "SANDBOX_HTTP_BODY_SECONDS": "2.5"})
    assert limits.max_header_bytes == 1024 and limits.body_seconds == 2.5
    assert limits.keep_alive_seconds == HTTPLimits.keep_alive_seconds
    options = limits.uvicorn_options()
    assert options["http"].max_head_bytes == 1024 and options["h11_max_incomplete_event_size"] == 1024


def test_every_service_bounds_its_request_bodies(tmp_path, db_fields):
    """`create_service_app` puts the body limit in front of every service (the IM's proxy has its own)."""
    settings = ServiceSettings(
        service_name="kernel", data_dir=tmp_path, max_request_bytes=MAX_BYTES, require_im_assertion=False, **db_fields
    )
    app = create_service_app(
        settings=settings,
        title="t",
        description="d",
        migrations_dir=MIGRATIONS,
        routers=[_routes()],
        error_render=shape,
    )
    with LiveServer(app) as live:
        r = httpx.post(live.url + "/echo", content=b"x" * (MAX_BYTES + 1), timeout=10)
    assert r.status_code == 413 and r.json()["ResponseCode"] == "413"
