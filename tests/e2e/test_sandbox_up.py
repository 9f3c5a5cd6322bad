"""`sandbox up` with the real processes: health, topology in the IM, calls across it, stop, restart."""

from __future__ import annotations

import os
import socket

import httpx
import pytest

from sandbox import topology

from .launcher import RunningSandbox

pytestmark = pytest.mark.e2e


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is not alive either.
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_up_registers_the_topology_and_mediates_calls_then_stops_everything(tmp_path):
    expected = {n for n, p in topology.load().processes.items() if p.available}
    with RunningSandbox(tmp_path / "var") as sandbox:
        assert sandbox.proc.poll() is None, sandbox.output.decode()
        state = sandbox.state
        assert set(state["processes"]) == expected
        for name in expected:
            assert sandbox.get(name, "/health").status_code == 200
        clients = sandbox.get("information_mediator", "/listClients").json()["member"]
        apps = {c["id"].get("applicationCode") for c in clients}
        for name in expected - {"information_mediator"}:
            app = topology.load().application_of(name)
            assert app.code in apps
        # A use-case application calls a BB through the IM with the credential the launcher gave it.
        app = topology.load().application_of("consent")
        service = app.services[0]["id"]
        client = "SANDBOX/GOV/SOCIAL-WELFARE/USCT"
        url = (
            f"{sandbox.url('information_mediator')}/r1/SANDBOX/GOV/{app.member_code}/{app.code}/{service}"
            "/service/data-agreement/da-usct-enrollment/"
        )
        ok = httpx.get(
            url,
            headers={
                "Information-Mediator-Client": client,
                "Information-Mediator-Client-Secret": sandbox.secret(client),
            },
        )
        assert ok.status_code == 200, ok.text
        assert ok.headers["X-Road-Client"] == client
        spoofed = httpx.get(url, headers={"Information-Mediator-Client": client})
        assert spoofed.status_code == 401
        # The trace is private: the IM got the viewer token the launcher generated.
        assert sandbox.get("information_mediator", "/api/v1/trace").status_code == 401
        viewer = {"Authorization": f"Bearer {sandbox.viewer_token}"}
        assert sandbox.get("information_mediator", "/api/v1/trace", headers=viewer).status_code == 200
        pids = [p["pid"] for p in state["processes"].values()]
    assert sandbox.proc.returncode == 0
    trace_page = f"{sandbox.url('information_mediator')}/ui/trace?token={sandbox.viewer_token}"
    assert trace_page in sandbox.output.decode(errors="replace")  # `up` prints where to watch
    assert not any(_alive(pid) for pid in pids)
    assert not (tmp_path / "var" / "sandbox.json").exists()

    # A second `up` keeps the data: the IM still has the audit entries of the first run.
    with RunningSandbox(tmp_path / "var") as again:
        audit = httpx.get(
            again.url("information_mediator") + "/api/v1/audit",
            headers={"Authorization": f"Bearer {again.admin_token}"},
        ).json()["entries"]
        assert [e["action"] for e in audit if e["outcome"] == "success"][-1] == "config.create"
        assert audit[0]["action"] == "config.update"


def test_a_service_that_cannot_start_is_reported_and_the_others_are_stopped(tmp_path):
    sandbox = RunningSandbox(tmp_path / "var")
    blocker = socket.socket()
    blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    blocker.bind(("127.0.0.1", sandbox.ports["information_mediator"]))
    blocker.listen()
    try:
        sandbox.start(retry_taken_port=False)
        sandbox.proc.wait(timeout=60)
        output = (sandbox.output + sandbox.proc.stdout.read()).decode(errors="replace")
    finally:
        sandbox.stop()
        blocker.close()
    assert sandbox.proc.returncode == 1
    assert "could not start" in output and "information_mediator" in output
    assert "address already in use" in output.lower() or "errno 98" in output.lower()
