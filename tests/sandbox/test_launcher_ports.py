"""`sandbox up` takes a port held by another program for what it is, not for the service it started
(a run of the whole suite once saw payments fail to bind while another test's server answered its /health)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from fastapi import FastAPI

from sandbox import topology
from sandbox.cli import main
from sandbox.launcher import LaunchError, Sandbox, Supervisor
from tests.support import LiveServer, free_port


def _impostor() -> FastAPI:
    app = FastAPI()

    @app.get("/health")
    def health() -> dict:
        return {"status": "UP", "service": "consent"}

    return app


def test_a_port_held_by_another_program_fails_the_start_with_the_services_log(tmp_path):
    with LiveServer(_impostor()) as impostor:
        sandbox = Sandbox(tmp_path / "var", topology.load({"consent": impostor.port}))
        sandbox.prepare_secrets()
        supervisor = Supervisor(sandbox, say=lambda _: None)
        try:
            with pytest.raises(LaunchError, match="consent exited during start-up"):
                supervisor.start_all(["consent"])
        finally:
            supervisor.stop_all()
        assert "address already in use" in supervisor.log_tail("consent")


def test_two_processes_given_one_port_are_refused_before_anything_starts(tmp_path):
    """Seen in CI: Consent and the IM were handed the same free port; Consent bound it, the IM could not, and
    Consent (same launch id) answered the IM's /health, so the start failed later on a 404."""
    port = free_port()
    args = ["up", "--data-dir", str(tmp_path / "var"), "--port", f"information_mediator={port}"]
    result = CliRunner().invoke(main, [*args, "--port", f"consent={port}"])
    assert result.exit_code == 1, result.output
    assert f"port {port} is given to information_mediator and consent" in " ".join(result.output.split())


def test_free_ports_are_never_handed_out_twice():
    ports = [free_port() for _ in range(200)]
    assert len(set(ports)) == 200 and all(20000 <= p < 32768 for p in ports)
