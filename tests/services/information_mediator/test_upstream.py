"""The IM's client toward providers (`proxy/upstream.py`) against a real socket server whose answers each test
chooses: keep-alive reuse, `Connection: close`, chunked and HEAD answers, a provider that closes or stalls."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from services.information_mediator.proxy.upstream import UpstreamClosed, UpstreamError, UpstreamPool, UpstreamTimeout

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


class Provider:
    """A socket server that answers each request head with `answer(request_head)` (None: close the connection)."""

    def __init__(self, answer: Callable[[bytes], bytes | None]):
        self.answer = answer
        self.connections = 0
        self.requests: list[bytes] = []

    async def __aenter__(self) -> Provider:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.origin = ("http", "127.0.0.1", self.server.sockets[0].getsockname()[1])
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    (
                        int(line.split(b":")[1])
                        for line in head.lower().split(b"\r\n")
                        if line.startswith(b"content-length")
                    ),
                    0,
                )
                self.requests.append(head + await reader.readexactly(length))
                answer = self.answer(head)
                if answer is None:
                    break
                writer.write(answer)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()


async def _get(pool: UpstreamPool, origin, method: str = "GET", body: bytes | None = None) -> tuple[int, bytes]:
    response = await pool.request(origin, method, "/x?a=1", [("X-Test", "1")], body)
    try:
        return response.status, b"".join([piece async for piece in response.pieces()])
    finally:
        response.release()


def test_keep_alive_connections_are_reused_and_the_request_is_sent_as_given():
    async def run() -> None:
        async with Provider(lambda head: OK) as provider:
            pool = UpstreamPool(limit=10, connect_timeout=2, read_timeout=2)
            for _ in range(5):
                assert await _get(pool, provider.origin, "POST", b"{}") == (200, b"ok")
            pool.close()
        assert provider.connections == 1
        first = provider.requests[0]
        assert first.startswith(b"POST /x?a=1 HTTP/1.1\r\nHost: 127.0.0.1:")
        assert b"\r\nX-Test: 1\r\n" in first and b"\r\nContent-Length: 2\r\n" in first and first.endswith(b"{}")

    asyncio.run(run())


def test_a_connection_the_provider_closes_is_not_reused():
    close = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"

    async def run() -> None:
        async with Provider(lambda head: close) as provider:
            pool = UpstreamPool(limit=10, connect_timeout=2, read_timeout=2)
            for _ in range(3):
                assert await _get(pool, provider.origin) == (200, b"ok")
            pool.close()
        assert provider.connections == 3

    asyncio.run(run())


def test_chunked_and_head_answers_and_interim_responses():
    def answer(head: bytes) -> bytes:
        if head.startswith(b"HEAD"):
            return b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"  # no body follows a HEAD answer
        return (
            b"HTTP/1.1 100 Continue\r\n\r\n"
            b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\nX-A: 2\r\n\r\n"
            b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
        )

    async def run() -> None:
        async with Provider(answer) as provider:
            pool = UpstreamPool(limit=10, connect_timeout=2, read_timeout=2)
            response = await pool.request(provider.origin, "GET", "/", [], None)
            assert response.status == 201 and response.raw_headers.count((b"X-A", b"1")) == 1
            assert (b"X-A", b"2") in response.raw_headers
            assert b"".join([p async for p in response.pieces()]) == b"abcde"
            response.release()
            assert await _get(pool, provider.origin, "HEAD") == (200, b"")
            assert await _get(pool, provider.origin) == (201, b"abcde")  # the same connection, still in step
            pool.close()
        assert provider.connections == 1

    asyncio.run(run())


def test_a_provider_that_closes_mid_answer_or_stays_silent_is_an_error():
    async def run() -> None:
        async with Provider(lambda head: b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc") as provider:
            pool = UpstreamPool(limit=10, connect_timeout=2, read_timeout=0.3)
            with pytest.raises(UpstreamTimeout):  # 3 of 10 bytes, then nothing
                await _get(pool, provider.origin)
        async with Provider(lambda head: None) as provider:
            with pytest.raises(UpstreamClosed):  # closed before answering
                await _get(pool, provider.origin)
        async with Provider(lambda head: b"HTTP/1.1 200 OK\r\n") as provider:
            with pytest.raises(UpstreamTimeout):  # no complete head
                await _get(pool, provider.origin)
        with pytest.raises(UpstreamError, match="could not be reached"):
            await _get(pool, provider.origin)  # nobody listens any more
        pool.close()

    asyncio.run(run())


def test_a_full_pool_answers_timeout_and_frees_its_slots():
    async def run() -> None:
        async with Provider(lambda head: OK) as provider:
            pool = UpstreamPool(limit=1, connect_timeout=0.2, read_timeout=2)
            held = await pool.request(provider.origin, "GET", "/", [], None)
            with pytest.raises(UpstreamTimeout, match="no connection"):
                await pool.request(provider.origin, "GET", "/", [], None)
            held.release()  # body not read: the connection is closed, the slot freed
            assert await _get(pool, provider.origin) == (200, b"ok")
            pool.close()
        assert provider.connections == 2

    asyncio.run(run())


def test_a_pooled_connection_closed_while_idle_is_replaced_without_an_error():
    async def run() -> None:
        answers = iter([OK, None, OK])  # the second request finds the connection closed by the provider
        async with Provider(lambda head: next(answers)) as provider:
            pool = UpstreamPool(limit=10, connect_timeout=2, read_timeout=2)
            assert await _get(pool, provider.origin) == (200, b"ok")
            assert await _get(pool, provider.origin) == (200, b"ok")
            pool.close()
        assert provider.connections == 2

    asyncio.run(run())
