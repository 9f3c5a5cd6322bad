"""A real IM in front of a real test provider, both served by uvicorn on free ports."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from services.common.assertion import ASSERTION_HEADER, AssertionVerifier, Exchange, InvalidAssertion
from services.common.guard import target
from services.common.im_client import hash_secret
from services.information_mediator.app import create_app
from services.information_mediator.settings import IMSettings
from tests.support import LiveServer, free_port

ADMIN = "test-admin-token"
CLIENT = "SANDBOX/GOV/CLIENT-ORG/CLIENT"
CLIENT_SECRET = "client-secret-1"
OTHER = "SANDBOX/GOV/CLIENT-ORG/OTHER"
OTHER_SECRET = "other-secret-2"
PROVIDER = "SANDBOX/GOV/PROVIDER-ORG/APP"


def provider_app(im_url_holder: dict) -> FastAPI:
    app = FastAPI(title="Test provider", version="2.3.4")

    @app.api_route("/echo/{rest:path}", methods=["GET", "POST", "PUT", "DELETE", "PATCH"])
    @app.api_route("/echo", methods=["GET", "POST", "PUT", "DELETE", "PATCH"])
    async def echo(request: Request) -> JSONResponse:
        body = await request.body()
        verified = None
        expected = Exchange(
            client="",
            service=request.headers.get("X-Road-Service", ""),
            method=request.method,
            path=target(request.scope),
            body_sha256=hashlib.sha256(body).hexdigest(),
        )
        try:
            if "verifier" not in im_url_holder:
                im_url_holder["verifier"] = AssertionVerifier(im_url_holder["url"])
            verified = im_url_holder["verifier"].verify(request.headers.get(ASSERTION_HEADER), expected)
            verified = verified.client
        except InvalidAssertion as exc:
            verified = f"invalid: {exc}"
        return JSONResponse(
            {
                "method": request.method,
                "raw_path": request.scope["raw_path"].decode(),
                "query": request.scope["query_string"].decode(),
                "headers": {k: v for k, v in request.headers.items()},
                "body_sha256": hashlib.sha256(body).hexdigest(),
                "verified_client": verified,
            },
            headers={"X-Provider": "yes", "Set-Cookie": "a=b"},
        )

    @app.post("/upload")
    async def upload(request: Request) -> JSONResponse:
        digest, size, chunks = hashlib.sha256(), 0, 0
        async for chunk in request.stream():
            if chunk:
                digest.update(chunk)
                size += len(chunk)
                chunks += 1
        return JSONResponse({"size": size, "sha256": digest.hexdigest(), "chunks": chunks})

    @app.get("/slow")
    async def slow(seconds: float = 3.0) -> dict:
        await asyncio.sleep(seconds)
        return {"slept": seconds}

    @app.get("/status/{code}")
    async def status(code: int) -> Response:
        return Response(b'{"provider": "error"}', status_code=code, media_type="application/json")

    @app.get("/download")
    async def download(size: int = 5_000_000) -> StreamingResponse:
        async def gen():
            sent = 0
            while sent < size:
                n = min(65536, size - sent)
                sent += n
                yield b"x" * n

        return StreamingResponse(gen(), media_type="application/octet-stream")

    return app


def conf(provider_url: str, dead_url: str) -> dict:
    def svc(code, url=provider_url, rights=None, enabled=True):
        return {
            "id": code,
            "serviceUrl": url,
            "specUrl": f"{provider_url}/openapi.json",
            "enabled": enabled,
            "rights": rights if rights is not None else [{"member": "CLIENT-ORG", "application": "CLIENT"}],
        }

    return {
        "domain": "test.localhost",
        "instance": "SANDBOX",
        "members": [
            {
                "name": "Provider Org",
                "class": "GOV",
                "code": "PROVIDER-ORG",
                "applications": [
                    {
                        "id": "APP",
                        "services": [
                            svc("echo", url=f"{provider_url}/echo"),
                            svc("disabled", enabled=False),
                            svc("down", url=dead_url),
                            svc("private", rights=[]),
                        ],
                    },
                ],
            },
            {
                "name": "Client Org",
                "class": "GOV",
                "code": "CLIENT-ORG",
                "applications": [
                    {"id": "CLIENT", "secretHash": hash_secret(CLIENT_SECRET)},
                    {"id": "OTHER", "secretHash": hash_secret(OTHER_SECRET)},
                ],
            },
        ],
    }


class Stack:
    def __init__(self, im: LiveServer, provider: LiveServer, app: FastAPI, settings: IMSettings):
        self.im, self.provider, self.app, self.settings = im, provider, app, settings
        self.http = httpx.Client(base_url=im.url, timeout=30)

    @property
    def runtime(self):  # noqa: ANN201
        return self.app.state.im_runtime

    def call(
        self,
        method: str,
        service: str,
        path: str = "",
        client: str = CLIENT,
        secret: str | None = CLIENT_SECRET,
        headers: dict | None = None,
        **kwargs,
    ) -> httpx.Response:  # noqa: ANN003
        h = {"Information-Mediator-Client": client}
        if secret is not None:
            h["Information-Mediator-Client-Secret"] = secret
        h.update(headers or {})
        return self.http.request(method, f"/r1/{PROVIDER}/{service}{path}", headers=h, **kwargs)

    def admin(self, method: str, path: str, token: str | None = ADMIN, **kwargs) -> httpx.Response:  # noqa: ANN003
        headers = kwargs.pop("headers", {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return self.http.request(method, path, headers=headers, **kwargs)

    def flush_log(self) -> None:
        self.runtime.writer.flush()


@contextmanager
def running_stack(db_fields: dict, tmp_path, wrap: Callable = lambda app: app, **overrides) -> Iterator[Stack]:
    """The IM and a provider on live servers; `wrap` puts what `sandbox serve` adds around the IM's app."""
    holder: dict = {}
    with LiveServer(provider_app(holder)) as provider:
        fields = {"provider_timeout": 2.5, "connect_timeout": 2.5, "registry_poll_seconds": 0.2, **overrides}
        settings = IMSettings(**db_fields, data_dir=tmp_path, admin_token=ADMIN, **fields)
        app = create_app(settings)
        with LiveServer(wrap(app)) as im:
            holder["url"] = im.url
            s = Stack(im, provider, app, settings)
            response = s.admin("PUT", "/api/v1/config", json=conf(provider.url, f"http://127.0.0.1:{free_port()}"))
            assert response.status_code == 201, response.text
            yield s
            s.http.close()


@pytest.fixture
def stack(db_fields, tmp_path):
    with running_stack(db_fields, tmp_path) as s:
        yield s
