"""No Docker engine runs here: check that docker-compose.yml matches the launcher's topology."""

from __future__ import annotations

from pathlib import Path

import yaml

from sandbox import topology

ROOT = Path(__file__).resolve().parents[2]


def test_compose_runs_every_topology_process_with_its_port_and_command():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    processes = topology.load().processes
    assert set(compose) - {"postgres"} == set(processes)
    for name, process in processes.items():
        service = compose[name]
        assert service["command"] == ["sandbox", "serve", name]
        assert service["ports"] == [f"{process.port}:{process.port}"]
        env = service["environment"]
        assert env[f"{process.env_prefix}PORT"] == str(process.port)
        assert env["DATABASE_URL"].startswith("postgresql")
        assert env[f"SANDBOX_{name.upper()}_URL"].endswith(f":{process.port}")


def test_dockerfile_installs_the_package_with_its_console_script():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "pip install" in dockerfile and "sandbox" in dockerfile
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'sandbox = "sandbox.cli:main"' in pyproject
