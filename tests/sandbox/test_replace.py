"""`sandbox up --replace payments=URL`: the IM routes Payments' services to an implementation elsewhere. A
deliberately broken one makes the cash-transfer demo name the failing step and the exchange that failed; a
second instance of ours (`sandbox serve payments`, its own data, trusting this IM) makes it pass.

One sandbox serves both halves (a full start is the expensive part): the port of the replacement is served
first by the broken stub, then by the second instance."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
from click.testing import CliRunner
from sqlalchemy import create_engine, text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from sandbox import member
from sandbox.cli import main
from tests.e2e.launcher import RunningSandbox
from tests.support import TEST_DATABASE_URL, LiveServer, free_port
from tests.usecases.stack import running_stack

PAYMENTS_CLIENT = "SANDBOX/GOV/PAYMENTS-AUTHORITY/PAYMENTS"


async def _broken(request: Request) -> JSONResponse:
    """Every operation answers 500 with a body of no documented shape."""
    return JSONResponse({"oops": "not a GovStack answer"}, status_code=500)


def _demo(running: RunningSandbox) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sandbox.cli", "demo", "cash-transfer", "--data-dir", str(running.data_dir)],
        env=running.env,
        capture_output=True,
        text=True,
        timeout=240,
    )


def _second_payments(running: RunningSandbox, port: int, data_dir: Path, schema: str) -> subprocess.Popen:
    """Our Payments again, as a team would run theirs: its own data, this IM's URL (its JWKS verifies the
    assertions) and the Payments application's credential (its callbacks go through the IM)."""
    env = {k: v for k, v in running.env.items() if not k.startswith("PAYMENTS_")}
    env.update(
        PAYMENTS_PORT=str(port),
        PAYMENTS_DATA_DIR=str(data_dir),
        PAYMENTS_IM_URL=running.url("information_mediator"),
        PAYMENTS_IM_CLIENT=PAYMENTS_CLIENT,
        PAYMENTS_IM_CLIENT_SECRET=member.secret_file(running.data_dir, PAYMENTS_CLIENT).read_text().strip(),
    )
    if TEST_DATABASE_URL:
        env["PAYMENTS_DATABASE_SCHEMA"] = schema
    log = data_dir.with_suffix(".log")
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "sandbox.cli", "serve", "payments"], env=env, stdout=out, stderr=out
        )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        assert proc.poll() is None, f"the second Payments exited:\n{log.read_text()}"
        time.sleep(0.2)
    proc.terminate()
    raise TimeoutError(f"the second Payments did not start:\n{log.read_text()}")


def test_payments_replaced_by_a_broken_stub_then_by_a_second_instance_of_ours(tmp_path):
    port = free_port()
    replacement = f"http://127.0.0.1:{port}"
    processes = ("information_mediator", "identity", "consent", "cash_transfer")
    with running_stack(
        tmp_path / "var", processes, "replace", args=("--replace", f"payments={replacement}")
    ) as running:
        assert "payments" not in running.state["processes"]
        assert running.state["replaced"] == {"payments": replacement}
        registry = httpx.get(
            running.url("information_mediator") + "/api/v1/config",
            headers={"Authorization": f"Bearer {running.admin_token}"},
            timeout=10,
        ).json()
        urls = {
            s["serviceUrl"]
            for m in registry["members"]
            for a in m["applications"]
            if a["id"] == "PAYMENTS"
            for s in a["services"]
        }
        assert urls == {replacement}

        stub = LiveServer(Starlette(routes=[Route("/{path:path}", _broken, methods=["GET", "POST", "PUT"])]), port)
        stub.start()
        try:
            failed = _demo(running)
        finally:
            stub.stop()
        assert failed.returncode == 1, failed.stdout
        assert "failed: enroll into Basic support; register in the account mapper (Payments)" in failed.stdout
        assert "Payments mapper: 500" in failed.stdout  # how the answer differed: status and body
        assert "not a GovStack answer" in failed.stdout
        exchange = "✘ SOCIAL-WELFARE/USCT -> PAYMENTS-AUTHORITY/PAYMENTS/mapper POST /register-beneficiary: 500"
        assert f"{exchange}  [replaced by {replacement}]" in failed.stdout

        schema = f"replace_{uuid.uuid4().hex[:8]}_payments2"
        second = _second_payments(running, port, tmp_path / "second-payments", schema)
        try:
            passed = _demo(running)
        finally:
            second.terminate()
            second.wait(timeout=20)
            if TEST_DATABASE_URL:
                engine = create_engine(TEST_DATABASE_URL)
                with engine.begin() as conn:
                    conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
                engine.dispose()
        assert passed.returncode == 0, passed.stdout + passed.stderr
        assert "payment: paid" in passed.stdout


def test_an_unknown_block_or_service_cannot_be_replaced(tmp_path):
    cases = {
        "ledger=http://127.0.0.1:9": "cannot replace 'ledger'",
        "information_mediator=http://127.0.0.1:9": "cannot replace 'information_mediator'",
        "payments/nope=http://127.0.0.1:9": "unknown service 'nope'",
        "payments=ftp://127.0.0.1:9": "BLOCK[/SERVICE]=URL",
    }
    for value, expected in cases.items():
        done = CliRunner().invoke(main, ["up", "--data-dir", str(tmp_path / "var"), "--replace", value])
        assert done.exit_code == 2 and expected in done.output, done.output
    assert not (tmp_path / "var").exists()  # refused before anything started
