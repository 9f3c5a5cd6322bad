"""A service run by `sandbox serve` bounds what one client can make it hold (issue 16, finding 6): a huge
request head is refused at once, a head sent slowly or never is timed out, and other clients are served
meanwhile."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.support import free_port, wait_for_http, wait_until

ROOT = Path(__file__).resolve().parents[2]
HEAD_SECONDS = 1.0


@pytest.fixture(scope="module")
def im(tmp_path_factory):
    """The IM exactly as `sandbox up` and the containers start it, with a short head timeout."""
    port, data = free_port(), tmp_path_factory.mktemp("im")
    env = dict(
        os.environ,
        INFORMATION_MEDIATOR_PORT=str(port),
        INFORMATION_MEDIATOR_DATA_DIR=str(data),
        INFORMATION_MEDIATOR_DATABASE_URL=f"sqlite:///{data / 'im.db'}",
        INFORMATION_MEDIATOR_ADMIN_TOKEN="limits-admin",
        SANDBOX_HTTP_HEADER_SECONDS=str(HEAD_SECONDS),
        PYTHONPATH=str(ROOT),
    )
    proc = subprocess.Popen([sys.executable, "-m", "sandbox.serve", "information_mediator"], env=env, cwd=ROOT)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for_http(url + "/health", proc)
        yield url, port
    finally:
        proc.terminate()
        proc.wait(timeout=20)


class HealthProbe(threading.Thread):
    def __init__(self, url: str):
        super().__init__(daemon=True)
        self.url, self.slowest, self.answers, self.stop = url, 0.0, 0, threading.Event()

    def run(self) -> None:
        with httpx.Client(timeout=30) as http:
            while not self.stop.is_set():
                started = time.monotonic()
                assert http.get(self.url + "/health").status_code == 200
                self.slowest = max(self.slowest, time.monotonic() - started)
                self.answers += 1
                self.stop.wait(0.05)


def _send_huge_head(port: int, size: int) -> tuple[float, bool, bytes]:
    """Sends a request whose one header is `size` bytes; (seconds, whether all of it was accepted, answer)."""
    chunk = b"a" * 65536
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        started = time.monotonic()
        accepted = True
        try:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: im\r\nX-Huge: ")
            for _ in range(size // len(chunk)):
                sock.sendall(chunk)
            sock.sendall(b"\r\n\r\n")
        except OSError:
            accepted = False
        took = time.monotonic() - started
        try:
            answer = sock.recv(200)
        except OSError:
            answer = b""
    return took, accepted, answer


def test_a_fifty_megabyte_header_is_refused_at_once_and_others_are_served(im):
    url, port = im
    probe = HealthProbe(url)
    probe.start()
    assert wait_until(lambda: probe.answers >= 1, timeout=10)
    try:
        took, accepted, answer = _send_huge_head(port, 50 * 1024 * 1024)
        time.sleep(0.2)
    finally:
        probe.stop.set()
        probe.join(timeout=30)
    assert not accepted, f"the server read the whole 50 MB head ({took:.1f} s), answer {answer[:40]!r}"
    assert took < 1.0, f"refused only after {took:.1f} s"
    assert answer in (b"",) or answer.startswith(b"HTTP/1.1 431"), answer
    assert probe.answers >= 2 and probe.slowest < 1.0, f"/health waited {probe.slowest:.2f} s"
    assert httpx.get(url + "/health", headers={"X-Normal": "n" * 8000}).status_code == 200


@pytest.mark.parametrize("trickle", [False, True], ids=["silent", "trickling"])
def test_a_head_sent_slowly_or_never_is_timed_out(im, trickle):
    url, port = im
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        started = time.monotonic()
        if trickle:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: im\r\nX-Slow: ")
        answer, closed = b"", False
        sock.settimeout(0.1)
        while not closed and time.monotonic() - started < 5 * HEAD_SECONDS:
            try:
                if trickle:
                    sock.sendall(b"s")  # one byte every 100 ms: the head is never complete
                answer = sock.recv(200)
                closed = True
            except TimeoutError:
                continue
            except OSError:
                closed = True
        took = time.monotonic() - started
    assert closed and took < 3 * HEAD_SECONDS, f"the connection was still open after {took:.1f} s"
    assert answer in (b"",) or answer.startswith(b"HTTP/1.1 408"), answer
    assert httpx.get(url + "/health").status_code == 200
