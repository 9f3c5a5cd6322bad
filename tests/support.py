"""Test helpers: fresh databases (SQLite file or a PostgreSQL schema) and real servers on free ports."""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import uvicorn
from sqlalchemy import create_engine, text

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def fresh_database(tmp_path: Path, name: str = "svc") -> Iterator[dict]:
    """Settings fields for an empty database: a SQLite file, or a throw-away schema on TEST_DATABASE_URL."""
    if not TEST_DATABASE_URL:
        yield {"database_url": f"sqlite:///{tmp_path / (name + '.db')}", "database_schema": None}
        return
    schema = f"t_{name}_{uuid.uuid4().hex[:12]}".lower()
    engine = create_engine(TEST_DATABASE_URL)
    try:
        yield {"database_url": TEST_DATABASE_URL, "database_schema": schema}
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
