"""`sandbox up` takes a port held by another program for what it is, not for the service it started
(a run of the whole suite once saw payments fail to bind while another test's server answered its /health)."""

from __future__ import annotations

import pytest
from fastapi import FastAPI

from sandbox import topology
from sandbox.launcher import LaunchError, Sandbox, Supervisor
from tests.support import LiveServer


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
