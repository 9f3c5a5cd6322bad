"""Runs the real `sandbox up` in a subprocess on free ports (shared by the end-to-end tests)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from sandbox import topology
from tests.support import TEST_DATABASE_URL, free_port


class RunningSandbox:
    def __init__(
        self, data_dir: Path, only: tuple[str, ...] = (), extra_env: dict | None = None, args: tuple[str, ...] = ()
    ):
        self.data_dir = data_dir
        self.ports = {name: free_port() for name in topology.load().processes}
        self.only = only
        self.args = args  # more options of `sandbox up`
        self.env = dict(os.environ, **(extra_env or {}))
        if TEST_DATABASE_URL:
            self.env["DATABASE_URL"] = TEST_DATABASE_URL
        self.proc: subprocess.Popen | None = None
        self.output = b""

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def start(self, timeout: float = 60, retry_taken_port: bool = True) -> RunningSandbox:
        """Starts `sandbox up`; once more on fresh ports if one of ours was taken meanwhile by another test
        (free ports are only free until someone binds them; `sandbox up` then fails and says so)."""
        self._start(timeout)
        if retry_taken_port and self.proc.returncode is not None and b"address already in use" in self.output:
            self.ports = {name: free_port() for name in self.ports}
            self._start(timeout)
        return self

    def _start(self, timeout: float) -> None:
        args = [sys.executable, "-m", "sandbox.cli", "up", "--data-dir", str(self.data_dir)]
        args += [a for name, port in self.ports.items() for a in ("--port", f"{name}={port}")]
        args += [a for name in self.only for a in ("--only", name)]
        args += self.args
        self.proc = subprocess.Popen(args, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        state = self.data_dir / "sandbox.json"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.output = self.proc.stdout.read()
                return
            if state.exists():
                return
            time.sleep(0.1)
        self.stop()
        raise TimeoutError(f"sandbox up did not finish starting:\n{self.output.decode(errors='replace')}")

    @property
    def state(self) -> dict:
        return json.loads((self.data_dir / "sandbox.json").read_text())

    def secret(self, client_id: str) -> str:
        return (self.data_dir / "secrets" / ("im-client-" + client_id.replace("/", "_"))).read_text().strip()

    @property
    def admin_token(self) -> str:
        return (self.data_dir / "secrets" / "im-admin-token").read_text().strip()

    @property
    def viewer_token(self) -> str:
        return (self.data_dir / "secrets" / "im-viewer-token").read_text().strip()

    def stop(self) -> int:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        if self.proc and self.proc.stdout:
            self.output += self.proc.stdout.read()
        return self.proc.returncode if self.proc else 0

    def get(self, name: str, path: str, **kwargs) -> httpx.Response:  # noqa: ANN003
        return httpx.get(self.url(name) + path, timeout=10, **kwargs)

    def __enter__(self) -> RunningSandbox:
        return self.start()

    def __exit__(self, *exc) -> None:  # noqa: ANN002
        self.stop()
