"""The HTTP clients of a process share one TLS context instead of loading the CA bundle each (20-40 ms of CPU
per client, at every service's start and per call where a client is opened per call)."""

from __future__ import annotations

import asyncio
import ssl

import httpx
import pytest

from services.common.im_client import IMClient
from services.common.tls import client_context
from tests.support import free_port


def _context_of(client: httpx.Client | httpx.AsyncClient) -> ssl.SSLContext:
    return client._transport._pool._ssl_context


def test_the_im_clients_share_the_process_context():
    im = IMClient(f"http://127.0.0.1:{free_port()}", "SANDBOX/GOV/ORG/APP", "secret")  # nobody listens there
    with pytest.raises(httpx.ConnectError):
        im.request_sync("SANDBOX/GOV/ORG/OTHER/svc", "GET")
    with pytest.raises(httpx.ConnectError):
        asyncio.run(im.request("SANDBOX/GOV/ORG/OTHER/svc", "GET"))
    try:
        assert _context_of(im._sync) is client_context()
        assert _context_of(im._async) is client_context()
    finally:
        im._sync.close()
        asyncio.run(im._async.aclose())
