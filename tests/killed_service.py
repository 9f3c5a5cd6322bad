"""A service in its own process, so that a test can SIGKILL it under a load of concurrent calls."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.support import free_port, wait_until

ROOT = Path(__file__).resolve().parents[1]

# One call: returns what identifies the answered exchange (e.g. its X-Road-Id), or None if it was not answered.
Call = Callable[[httpx.Client, str], str | None]


def start_service(app_factory: str, env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    """`uvicorn --factory app_factory` on a free port with `env` added; returns once /health answers 200."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", app_factory, "--factory", "--port", str(port), "--log-level", "warning"],
        cwd=ROOT,
        env={**os.environ, **env},
    )
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return httpx.get(url + "/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    if not wait_until(up, 60, 0.1):
        proc.kill()
        raise RuntimeError(f"{app_factory} did not start")
    return proc, url


def kill_under_load(
    proc: subprocess.Popen, url: str, call: Call, seconds: float, answers: int = 200, threads: int = 16
) -> list[str]:
    """Makes `call`s from `threads` threads for at least `seconds` and until `answers` calls were answered
    (at most 15 s), SIGKILLs `proc` right after an answer arrived, while other calls are in flight, and returns
    what identifies every call that was answered before the kill."""
    answered: list[str] = []
    killed, just_answered = threading.Event(), threading.Event()

    def caller() -> None:
        with httpx.Client(base_url=url, timeout=10) as client:
            while not killed.is_set():
                try:
                    found = call(client, url)
                except httpx.HTTPError:
                    continue  # in flight when the process died
                if found is not None:
                    answered.append(found)
                    just_answered.set()

    workers = [threading.Thread(target=caller, daemon=True) for _ in range(threads)]
    for worker in workers:
        worker.start()
    start = time.monotonic()
    while time.monotonic() - start < 15 and (time.monotonic() - start < seconds or len(answered) < answers):
        time.sleep(0.05)
    # Right after an answer: what a service does after answering (e.g. a log written later) is cut short.
    just_answered.clear()
    just_answered.wait(5)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    killed.set()
    for worker in workers:
        worker.join(timeout=15)
    return answered
