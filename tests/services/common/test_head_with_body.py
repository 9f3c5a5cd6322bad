"""A small answer leaves in one write to the socket (head and body together), on the protocol `sandbox serve`
runs; HEAD, 100 Continue, streaming and keep-alive answers stay correct."""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse

from services.common.limits import HTTPLimits
from tests.support import free_port

WRITES: list[bytes] = []  # every write a connection made, in order


class RecordingTransport:
    def __init__(self, transport: asyncio.Transport):
        self._transport = transport

    def write(self, data: bytes) -> None:
        WRITES.append(bytes(data))
        self._transport.write(data)

    def __getattr__(self, name: str):  # noqa: ANN204
        return getattr(self._transport, name)


def _app() -> FastAPI:
    app = FastAPI()

    @app.api_route("/small", methods=["GET", "HEAD"])
    async def small() -> dict:
        return {"ok": True}

    @app.post("/echo")
    async def echo(request: Request) -> dict:
        return {"size": len(await request.body())}

    @app.get("/stream")
    async def stream() -> StreamingResponse:
        async def pieces():
            for _ in range(3):
                yield b"tick\n"
                await asyncio.sleep(0.05)

        return StreamingResponse(pieces(), media_type="text/plain")

    return app


@pytest.fixture(scope="module")
def url():
    options = HTTPLimits().uvicorn_options()
    base = options.pop("http")

    class Recording(base):
        def connection_made(self, transport: asyncio.Transport) -> None:
            super().connection_made(RecordingTransport(transport))

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(_app(), host="127.0.0.1", port=port, log_level="warning", http=Recording, **options)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def _writes_of(call) -> list[bytes]:  # noqa: ANN001
    WRITES.clear()
    call()
    time.sleep(0.05)  # the server's last write may follow the client's read
    return list(WRITES)


def test_a_small_answer_is_one_write_with_its_head(url):
    with httpx.Client(base_url=url, timeout=10) as http:
        writes = _writes_of(lambda: http.get("/small").raise_for_status())
        assert len(writes) == 1, writes
        assert writes[0].startswith(b"HTTP/1.1 200") and writes[0].endswith(b'{"ok":true}')
        again = _writes_of(lambda: http.get("/small").raise_for_status())  # the same kept-alive connection
        assert len(again) == 1, again


def test_a_head_request_gets_its_head(url):
    r = httpx.head(url + "/small", timeout=10)
    assert r.status_code == 200 and r.headers["content-length"] == "11" and r.content == b""


def test_a_streamed_answer_arrives_whole(url):
    r = httpx.get(url + "/stream", timeout=10)
    assert r.status_code == 200 and r.text == "tick\n" * 3


def test_100_continue_is_sent_before_the_body_is_read(url):
    port = int(url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
        assert sock.recv(100).startswith(b"HTTP/1.1 100 Continue"), "the interim answer was held back"
        sock.sendall(b"abcd")
        answer = b""
        while not answer.endswith(b"}"):
            answer += sock.recv(1000)
    assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b'{"size":4}')
