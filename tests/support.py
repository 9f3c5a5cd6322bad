"""Test helpers: fresh databases (SQLite file or a PostgreSQL schema) and real servers on free ports."""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import uvicorn
from sqlalchemy import create_engine, text

from sandbox import processes

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL")


def free_port() -> int:
    return processes.free_port()


@contextmanager
def fresh_database(tmp_path: Path, name: str = "svc", server_url: str | None = TEST_DATABASE_URL) -> Iterator[dict]:
    """Settings fields for an empty database: a SQLite file, or a throw-away schema on `server_url`
    (TEST_DATABASE_URL unless given: the benches pass their --database-url)."""
    if not server_url:
        yield {"database_url": f"sqlite:///{tmp_path / (name + '.db')}", "database_schema": None}
        return
    schema = f"t_{name}_{uuid.uuid4().hex[:12]}".lower()
    engine = create_engine(server_url)
    try:
        yield {"database_url": server_url, "database_schema": schema}
    finally:
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()


class LiveServer:
    """A real uvicorn server for an ASGI app, in a thread, on a free port."""

    def __init__(self, app, port: int | None = None):  # noqa: ANN001
        self.app = app
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        self.server = uvicorn.Server(
            uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()

    def start(self) -> LiveServer:
        # A port given again (a server "coming back") may briefly be someone's ephemeral source port.
        deadline = time.monotonic() + 20
        self._serve()
        while time.monotonic() < deadline:
            if self.server.started:
                return self
            if not self.thread.is_alive():
                time.sleep(0.5)
                self._serve()
            time.sleep(0.02)
        raise RuntimeError(f"server did not start on port {self.port}")

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)

    def __enter__(self) -> LiveServer:
        return self.start()

    def __exit__(self, *exc) -> None:  # noqa: ANN002
        self.stop()


def wait_for_http(url: str, proc, timeout: float = 30) -> None:  # noqa: ANN001
    """Until `url` answers at all; fails fast when the process serving it exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"process for {url} exited")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not start")


def wait_until(predicate, timeout: float = 10.0, interval: float = 0.05) -> bool:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


class IMSigner:
    """Plays the Information Mediator toward one provider app in tests: the app trusts this signer's key, and
    every request of a client attached with `attach` carries a bound, one-use assertion, as the IM sends."""

    def __init__(self, client_id: str = "SANDBOX/GOV/TEST-MEMBER/TESTER"):
        from joserfc.jwk import OKPKey

        self.client_id = client_id
        self.key = OKPKey.generate_key("Ed25519", parameters={"kid": "test-im"}, private=True)

    def trust(self, app) -> None:
        from joserfc.jwk import KeySet

        from services.common.assertion import AssertionVerifier

        public = KeySet.import_key_set({"keys": [self.key.as_dict(private=False)]})
        app.state.assertion_verifier = AssertionVerifier("http://im.invalid", keyset=public)

    def assertion(self, app, method: str, target: str, body: bytes, client_id: str | None = None) -> str | None:
        """The assertion for a request to `target` (path?query), or None on a public path."""
        import hashlib
        from urllib.parse import urlsplit

        from services.common.assertion import Exchange, sign_assertion
        from services.common.guard import PUBLIC

        owner = app.state.route_table.owner(urlsplit(target).path)
        if owner in (None, PUBLIC):
            return None
        own_id = app.state.settings.im_client
        return sign_assertion(
            self.key,
            Exchange(
                client=client_id or self.client_id,
                service=f"{own_id}/{owner}" if own_id else owner,
                method=method,
                path=target,
                body_sha256=hashlib.sha256(body).hexdigest(),
            ),
        )

    def attach(self, http: httpx.Client, app, client_id: str | None = None) -> httpx.Client:
        """Signs every request `http` sends to `app` (an httpx or Starlette TestClient); returns `http`."""
        from services.common.assertion import ASSERTION_HEADER

        self.trust(app)

        def sign(request: httpx.Request) -> None:
            if ASSERTION_HEADER in request.headers:
                return
            target = request.url.raw_path.decode("latin-1")
            token = self.assertion(app, request.method, target, request.read(), client_id)
            if token is not None:
                request.headers[ASSERTION_HEADER] = token

        http.event_hooks = {"request": [*http.event_hooks["request"], sign], "response": http.event_hooks["response"]}
        return http


def mediated_client(app, **kwargs) -> httpx.Client:
    """A Starlette TestClient whose requests carry the IM's assertion, as if they crossed the IM."""
    from fastapi.testclient import TestClient

    return IMSigner().attach(TestClient(app, **kwargs), app)
