"""A pytest plugin for a team's own integration tests against the GovStack sandbox (entry point `pytest11`,
loaded by pytest once bb-sandbox is installed; it does nothing until a test asks for one of its fixtures).

- `govstack_sandbox` (session): the sandbox. By default `sandbox up` in a temporary folder, on free ports, on
  SQLite (`--govstack-sandbox-database-url` / GOVSTACK_SANDBOX_DATABASE_URL: PostgreSQL, a schema per service
  and run, dropped afterwards), with `--govstack-sandbox-local FILE` as its sandbox.local.yaml (your members);
  `--govstack-sandbox-only NAME` starts fewer processes. `--govstack-sandbox DIR` (GOVSTACK_SANDBOX) connects to
  a running one instead: the data directory of a `sandbox up` (its sandbox.json holds the URLs), or mounted
  credentials with the URLs in `SANDBOX_<PROCESS>_URL` as for `sandbox bootstrap`.
- `govstack_urls`: each process's base URL, by name (`payments`, `identity`, ...).
- `govstack_im_client`: `govstack_im_client("USCT")` (or "SOCIAL-WELFARE/USCT") is an IMClient acting as that
  application, with its credential.
- `govstack_test_id` and `govstack_trace`, the reset between tests: the sandbox's data is not wiped between
  tests (one start per session is what keeps them fast), so each test gets a unique id to name what it creates
  and sees only the exchanges it made through the IM (`govstack_trace()`).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

START_SECONDS = 120.0


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("govstack-sandbox", "GovStack sandbox (bb-sandbox's pytest plugin)")
    group.addoption(
        "--govstack-sandbox",
        default=os.environ.get("GOVSTACK_SANDBOX"),
        metavar="DIR",
        help="Use the sandbox running from this data directory instead of starting one [env GOVSTACK_SANDBOX].",
    )
    group.addoption("--govstack-sandbox-only", action="append", default=[], metavar="NAME", help="Start only these.")
    group.addoption("--govstack-sandbox-local", default=None, metavar="FILE", help="sandbox.local.yaml to start with.")
    group.addoption(
        "--govstack-sandbox-database-url",
        default=os.environ.get("GOVSTACK_SANDBOX_DATABASE_URL"),
        metavar="URL",
        help="PostgreSQL for the started sandbox (a schema per service and run) [default: SQLite files].",
    )


@dataclass
class GovStackSandbox:
    """A running sandbox: where its processes are and the credentials in its data directory."""

    data_dir: Path
    urls: dict[str, str]
    instance: str = "SANDBOX"

    @property
    def im_url(self) -> str:
        return self.urls["information_mediator"]

    def secret(self, client_id: str) -> str:
        return (self.data_dir / "secrets" / ("im-client-" + client_id.replace("/", "_"))).read_text().strip()

    def client_id(self, application: str) -> str:
        """`USCT` or `SOCIAL-WELFARE/USCT` -> `SANDBOX/GOV/SOCIAL-WELFARE/USCT`."""
        from . import topology

        topo = topology.load(local=topology.local_file(self.data_dir))
        return topo.find_application(application).client_id(self.instance)

    def trace(self, after: int | None = None) -> list[dict]:
        """The IM's exchanges (newest first), after the trace id `after`."""
        import httpx

        token = (self.data_dir / "secrets" / "im-viewer-token").read_text().strip()
        params = {"limit": 1000} | ({} if after is None else {"afterId": after})
        response = httpx.get(
            self.im_url + "/api/v1/trace", params=params, headers={"Authorization": f"Bearer {token}"}, timeout=10
        )
        response.raise_for_status()
        return response.json()["exchanges"]


@pytest.fixture(scope="session")
def govstack_sandbox(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GovStackSandbox]:
    given = request.config.getoption("--govstack-sandbox")
    if given:
        yield _connect(Path(given))
        return
    folder = tmp_path_factory.mktemp("govstack-sandbox")
    local = request.config.getoption("--govstack-sandbox-local")
    if local:
        (folder / "sandbox.local.yaml").write_text(Path(local).read_text())
    with _started(folder / "var", request.config.getoption("--govstack-sandbox-only"), request.config) as sandbox:
        yield sandbox


@pytest.fixture(scope="session")
def govstack_urls(govstack_sandbox: GovStackSandbox) -> dict[str, str]:
    return dict(govstack_sandbox.urls)


@pytest.fixture
def govstack_im_client(govstack_sandbox: GovStackSandbox) -> Callable[[str], Any]:
    from services.common.im_client import IMClient

    def make(application: str) -> IMClient:
        client_id = govstack_sandbox.client_id(application)
        return IMClient(govstack_sandbox.im_url, client_id, govstack_sandbox.secret(client_id))

    return make


@pytest.fixture
def govstack_test_id() -> str:
    """A unique id for what this test creates (the sandbox's data lives as long as the session)."""
    return "t" + uuid.uuid4().hex[:12]


@pytest.fixture
def govstack_trace(govstack_sandbox: GovStackSandbox) -> Callable[[], list[dict]]:
    """`govstack_trace()`: the exchanges made through the IM since this test began, oldest first."""
    newest = govstack_sandbox.trace()
    mark = newest[0]["id"] if newest else None
    return lambda: list(reversed(govstack_sandbox.trace(after=mark)))


def _connect(data_dir: Path) -> GovStackSandbox:
    """The `sandbox up` running from `data_dir`, else services the environment names (see sandbox/bootstrap.py)."""
    from .bootstrap import deployed_sandbox
    from .member import running_sandbox

    sandbox = running_sandbox(data_dir) or deployed_sandbox(data_dir)
    return GovStackSandbox(data_dir, {name: sandbox.url(name) for name in sandbox.topology.processes})


@contextlib.contextmanager
def _started(data_dir: Path, only: list[str], config: pytest.Config) -> Iterator[GovStackSandbox]:
    """`sandbox up` on free ports in `data_dir`, stopped (and its schemas dropped) at the end of the session."""
    from . import topology
    from .processes import free_port

    names = list(topology.load().processes)
    ports = {name: free_port() for name in names}
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL" and "_DATABASE_" not in k}
    env.pop("SANDBOX_LAUNCHER_PID", None)
    database = config.getoption("--govstack-sandbox-database-url")
    schemas = {}
    if database:
        run = uuid.uuid4().hex[:8]
        schemas = {f"{name.upper()}_DATABASE_SCHEMA": f"gs_{run}_{name}" for name in names}
        env.update(schemas, DATABASE_URL=database)
    args = [sys.executable, "-m", "sandbox.cli", "up", "--data-dir", str(data_dir)]
    args += [a for name, port in ports.items() for a in ("--port", f"{name}={port}")]
    args += [a for name in only for a in ("--only", name)]
    log = (data_dir.parent / "sandbox-up.log").open("wb")
    proc = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        state = _wait_for_state(proc, data_dir, log.name)
        yield GovStackSandbox(data_dir, {name: info["url"] for name, info in state["processes"].items()})
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        _drop_schemas(database, schemas.values())


def _wait_for_state(proc: subprocess.Popen, data_dir: Path, log: str) -> dict:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"sandbox up exited ({proc.returncode}); its output: {log}\n{Path(log).read_text()}")
        with contextlib.suppress(OSError, ValueError):
            return json.loads((data_dir / "sandbox.json").read_text())
        time.sleep(0.2)
    raise RuntimeError(f"sandbox up did not start in {START_SECONDS:.0f} s; its output: {log}")


def _drop_schemas(database: str | None, schemas: Any) -> None:
    if not database or not schemas:
        return
    from sqlalchemy import create_engine, text

    engine = create_engine(database)
    with engine.begin() as conn:
        for schema in schemas:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    engine.dispose()
