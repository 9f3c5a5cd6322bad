"""`sandbox up`: start every written service as its own uvicorn process, wait for health, register the
topology in the IM, run the use cases' set-up hooks, print where everything is, and supervise."""

from __future__ import annotations

import importlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import httpx

from services.common.im_client import hash_secret
from services.common.keys import load_or_create_secret

from .topology import IM, Process, Topology

START_TIMEOUT = 45.0


class LaunchError(RuntimeError):
    pass


@dataclass
class Sandbox:
    """What a running sandbox knows; handed to the processes' `on_up` hooks."""

    data_dir: Path
    topology: Topology
    running: list[str] = field(default_factory=list)
    admin_token: str = ""
    viewer_token: str = ""  # the IM's read-only token for the trace, monitoring and metrics
    client_secrets: dict[str, str] = field(default_factory=dict)
    # Each start's id, handed to every process and echoed by its /health, so that a port held by another
    # program is not taken for our process.
    launch_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    @property
    def im_url(self) -> str:
        return self.topology.processes[IM].url

    def url(self, process: str) -> str:
        return self.topology.processes[process].url

    def secrets_dir(self) -> Path:
        return self.data_dir / "secrets"

    def trace_page(self) -> str:
        """The IM's trace page, opening with the viewer token."""
        return f"{self.im_url}/ui/trace?{urlencode({'token': self.viewer_token})}"

    def prepare_secrets(self) -> None:
        self.admin_token = load_or_create_secret(self.secrets_dir(), "im-admin-token")
        self.viewer_token = load_or_create_secret(self.secrets_dir(), "im-viewer-token")
        for app in self.topology.applications:
            client = app.client_id(self.topology.instance)
            self.client_secrets[client] = load_or_create_secret(
                self.secrets_dir(), "im-client-" + client.replace("/", "_")
            )

    def env_for(self, process: Process) -> dict[str, str]:
        p = process.env_prefix
        env = dict(os.environ)
        env.update(
            {
                f"{p}HOST": "127.0.0.1",
                f"{p}PORT": str(process.port),
                f"{p}PUBLIC_URL": process.url,
                f"{p}DATA_DIR": str(self.data_dir / process.name),
                f"{p}IM_URL": self.im_url,
                f"{p}LAUNCH_ID": self.launch_id,
                **{f"SANDBOX_{name.upper()}_URL": proc.url for name, proc in self.topology.processes.items()},
            }
        )
        if process.name == IM:  # the IM's credentials go to the IM only
            env["INFORMATION_MEDIATOR_ADMIN_TOKEN"] = self.admin_token
            env["INFORMATION_MEDIATOR_VIEWER_TOKEN"] = self.viewer_token
        if process.module.startswith("usecases."):  # their "behind the scenes" panel reads the IM's trace
            env[f"{p}IM_VIEWER_TOKEN"] = self.viewer_token
        app = self.topology.application_of(process.name)
        if app is not None:
            client = app.client_id(self.topology.instance)
            env[f"{p}IM_CLIENT"] = client
            env[f"{p}IM_CLIENT_SECRET"] = self.client_secrets[client]
        return env


class Supervisor:
    def __init__(self, sandbox: Sandbox, say: Callable[[str], None] = print):
        self.sandbox = sandbox
        self.say = say
        self.children: dict[str, subprocess.Popen] = {}
        self.logs_dir = sandbox.data_dir / "logs"

    def log_tail(self, name: str, lines: int = 25) -> str:
        path = self.logs_dir / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else "(no log)"

    def start_all(self, names: list[str]) -> None:
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        for name in names:
            process = self.sandbox.topology.processes[name]
            log = open(self.logs_dir / f"{name}.log", "ab")  # noqa: SIM115 - owned by the child's lifetime
            self.children[name] = subprocess.Popen(
                [sys.executable, "-m", "sandbox.serve", name],
                env=self.sandbox.env_for(process),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.wait_healthy(names)
        self.sandbox.running = names

    def wait_healthy(self, names: list[str]) -> None:
        pending = set(names)
        deadline = time.monotonic() + START_TIMEOUT
        with httpx.Client(timeout=1.0) as http:
            while pending:
                for name in sorted(pending):
                    if self.children[name].poll() is not None:
                        raise LaunchError(f"{name} exited during start-up:\n{self.log_tail(name)}")
                    try:
                        if self._answers_as_our_child(http, name):
                            pending.discard(name)
                    except (httpx.HTTPError, ValueError):
                        pass
                if pending and time.monotonic() > deadline:
                    name = sorted(pending)[0]
                    raise LaunchError(f"{name} did not become healthy in {START_TIMEOUT:.0f} s:\n{self.log_tail(name)}")
                if pending:
                    time.sleep(0.05)

    def _answers_as_our_child(self, http: httpx.Client, name: str) -> bool:
        """Healthy, and it is the process we started: another program on the port answers with another id."""
        response = http.get(self.sandbox.url(name) + "/health")
        return response.status_code == 200 and response.json().get("launch") == self.sandbox.launch_id

    def dead_child(self) -> str | None:
        return next((n for n, p in self.children.items() if p.poll() is not None), None)

    def stop_all(self) -> None:
        for proc in self.children.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 8
        for proc in self.children.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()


def register_topology(sandbox: Sandbox) -> None:
    """Create the IM registry on the first start, merge it on later ones (runtime changes are kept)."""
    hashes = {client: hash_secret(secret) for client, secret in sandbox.client_secrets.items()}
    doc = sandbox.topology.imconf(hashes)
    headers = {"Authorization": f"Bearer {sandbox.admin_token}"}
    with httpx.Client(base_url=sandbox.im_url, headers=headers, timeout=15) as http:
        status = http.get("/api/v1/status")
        status.raise_for_status()
        method = "POST" if status.json()["status"] == "NOT_CONFIGURED" else "PATCH"
        response = http.request(method, "/api/v1/config", json=doc)
        if response.status_code != 201:
            raise LaunchError(f"the IM refused the topology: {response.status_code} {response.text}")


def run_hooks(sandbox: Sandbox) -> None:
    for name in sandbox.running:
        hook = sandbox.topology.processes[name].on_up
        if hook:
            module, _, function = hook.partition(":")
            getattr(importlib.import_module(module), function)(sandbox)


def write_state(sandbox: Sandbox, supervisor: Supervisor) -> Path:
    path = sandbox.data_dir / "sandbox.json"
    path.write_text(
        json.dumps(
            {
                "launcher_pid": os.getpid(),
                "processes": {n: {"pid": p.pid, "url": sandbox.url(n)} for n, p in supervisor.children.items()},
            },
            indent=2,
        )
    )
    return path


def read_state(data_dir: Path) -> dict | None:
    path = data_dir / "sandbox.json"
    return json.loads(path.read_text()) if path.exists() else None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except (ProcessLookupError, PermissionError):
        return False
