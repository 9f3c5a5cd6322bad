"""No Docker engine runs here: check that docker-compose.yml matches the launcher's topology, runs the bootstrap
before the use cases, gives each service its public and internal URLs, and keeps credentials out of the image."""

from __future__ import annotations

from pathlib import Path

import yaml

from sandbox import bootstrap, topology
from sandbox.launcher import Sandbox

ROOT = Path(__file__).resolve().parents[2]
CREDENTIALS = "deploy/credentials"


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]


def test_compose_runs_every_topology_process_with_its_port_and_command():
    compose = _compose()
    processes = topology.load().processes
    assert set(compose) - {"postgres", "bootstrap"} == set(processes)
    for name, process in processes.items():
        service = compose[name]
        assert service["command"] == ["sandbox", "serve", name]
        assert service["ports"] == [f"{process.port}:{process.port}"]
        env = service["environment"]
        p = process.env_prefix
        assert env[f"{p}PORT"] == str(process.port)
        assert env[f"{p}HOST"] == "0.0.0.0"  # noqa: S104 - inside its container
        assert env["DATABASE_URL"].startswith("postgresql")
        # what a browser uses (the published port) and what a service calls (the compose name) differ
        assert env[f"{p}PUBLIC_URL"] == f"http://localhost:{process.port}"
        assert env[f"SANDBOX_{name.upper()}_URL"] == f"http://localhost:{process.port}"
        assert env[f"{p}IM_URL"] == "http://information_mediator:8000"
        assert env[f"{p}DATA_DIR"] == "/data"
        assert f"{name}-data:/data" in service["volumes"]  # kept between container recreations
        assert service["env_file"] == [f"{CREDENTIALS}/env/{name}.env"]
        assert "/ready" in " ".join(service["healthcheck"]["test"])
    assert compose["consent"]["environment"]["CONSENT_IDENTITY_URL"] == "http://identity:8001"
    assert compose["consent"]["environment"]["CONSENT_IDENTITY_ISSUER"] == "http://localhost:8001"


def test_compose_bootstraps_once_the_providers_are_healthy_and_the_use_cases_wait_for_it():
    compose = _compose()
    processes = topology.load().processes
    boot = compose["bootstrap"]
    assert boot["command"] == ["sandbox", "bootstrap"] and boot["restart"] == "no"
    providers = {name for name, process in processes.items() if not process.on_up}
    assert {name for name, c in boot["depends_on"].items() if c["condition"] == "service_healthy"} == providers
    env = boot["environment"]
    for name, process in processes.items():
        assert env[f"SANDBOX_{name.upper()}_INTERNAL_URL"] == f"http://{name}:{process.port}"
        assert env[f"SANDBOX_{name.upper()}_URL"] == f"http://localhost:{process.port}"
        if process.on_up:  # a use case starts once the bootstrap registered its OIDC client, webhook, room
            assert compose[name]["depends_on"]["bootstrap"]["condition"] == "service_completed_successfully"
    assert f"./{CREDENTIALS}:{env['SANDBOX_DATA_DIR']}:ro" in boot["volumes"]


def test_every_key_and_secret_a_service_reads_from_its_data_directory_is_mounted_read_only():
    compose = _compose()
    for name in topology.load().processes:
        files = bootstrap.service_files(name)
        assert files, f"{name} keeps keys of its own"
        for path in files:
            assert f"./{CREDENTIALS}/{name}/{path}:/data/{path}:ro" in compose[name]["volumes"]
    # and the bootstrap's mount holds every credential it reads
    assert all(
        not str(path).startswith("/") for path in bootstrap.credential_files(Sandbox(Path("x"), topology.load()))
    )


def test_dockerfile_installs_the_package_with_its_console_script_and_no_credentials():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "pip install" in dockerfile and "sandbox" in dockerfile
    assert "deploy" not in "".join(line for line in dockerfile.splitlines() if line.startswith(("COPY", "ADD")))
    assert "USER 10001" in dockerfile  # numeric: Kubernetes' runAsNonRoot can check it
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'sandbox = "sandbox.cli:main"' in pyproject
    assert "deploy/credentials/" in (ROOT / ".gitignore").read_text()
