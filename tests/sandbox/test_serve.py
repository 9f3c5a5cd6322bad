"""`sandbox serve <name>` (what each container runs) takes its port from `SANDBOX_<NAME>_PORT` as `sandbox up`
does, and its log says where it listens."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx

from tests.support import free_port, wait_for_http

from .test_cli import ROOT


def test_serve_honours_the_sandbox_port_variable(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CONSENT_", "DATABASE_URL"))}
    env |= {"SANDBOX_CONSENT_PORT": str(port), "CONSENT_DATA_DIR": str(tmp_path), "PYTHONPATH": str(ROOT)}
    log = tmp_path / "consent.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "sandbox.cli", "serve", "consent"], env=env, cwd=tmp_path, stdout=out, stderr=out
        )
    try:
        wait_for_http(f"http://127.0.0.1:{port}/health", proc, timeout=60)
        health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=5)
        assert health.status_code == 200 and health.json()["service"] == "consent"
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    assert f"consent listening on http://127.0.0.1:{port}" in log.read_text()
