"""Two processes of every service on one PostgreSQL database, each behind a round-robin front, as a replicated
deployment runs them: each replica is `sandbox serve <name>` with its own port and its OWN data directory
(like separate containers: nothing under /data is shared), holding only what a container gets mounted from
its Secret (`sandbox bootstrap --new-credentials`), and the configuration a container gets from its
environment (docker-compose.yml, deploy/k8s)."""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.cookiejar import CookieJar, DefaultCookiePolicy
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from sandbox import bootstrap, topology
from tests.support import TEST_DATABASE_URL, LiveServer, free_port

REPLICAS = 2
START_SECONDS = 300.0
# Headers that belong to one hop (RFC 9110 7.6.1) or that the front recomputes from the body it relays.
HOP_BY_HOP = {
    b"connection",
    b"keep-alive",
    b"transfer-encoding",
    b"te",
    b"trailer",
    b"upgrade",
    b"content-length",
    b"content-encoding",
}


class RoundRobin:
    """An ASGI reverse proxy that sends each request to the next backend in turn (an ingress or a Kubernetes
    Service in front of replicas), keeping the browser's Host and every Set-Cookie."""

    def __init__(self, backends: list[str]):
        self._next = itertools.cycle(backends)
        self._client: httpx.AsyncClient | None = None  # made in the server's event loop (lifespan)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        request = Request(scope, receive)
        target = next(self._next) + scope["raw_path"].decode() + (f"?{request.url.query}" if request.url.query else "")
        headers = [(k, v) for k, v in request.headers.raw if k.lower() not in HOP_BY_HOP]
        body = await request.body()
        upstream = await self._client.request(request.method, target, headers=headers, content=body)
        response = Response(upstream.content, status_code=upstream.status_code)
        relayed = [(k, v) for k, v in upstream.headers.raw if k.lower() not in HOP_BY_HOP]
        response.raw_headers = [h for h in response.raw_headers if h[0] == b"content-length"] + relayed
        await response(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while (await receive())["type"] != "lifespan.shutdown":
            # A front keeps no cookies of its own: each browser's cookies pass through, to and fro.
            self._client = httpx.AsyncClient(timeout=120, cookies=CookieJar(DefaultCookiePolicy(allowed_domains=[])))
            await send({"type": "lifespan.startup.complete"})
        await self._client.aclose()
        await send({"type": "lifespan.shutdown.complete"})


@dataclass
class Replica:
    name: str
    index: int
    port: int
    data_dir: Path
    log: Path
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def rss_mb(self) -> float:
        """Resident memory of the running process (Linux /proc), in MB."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def cpu_seconds(self) -> float:
        """CPU time the process has used so far (user + system, Linux /proc)."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@dataclass
class ReplicatedSandbox:
    root: Path
    run: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    fronts: dict[str, LiveServer] = field(default_factory=dict)
    replicas: dict[str, list[Replica]] = field(default_factory=dict)

    @property
    def credentials(self) -> Path:
        return self.root / "credentials"

    def front(self, name: str) -> str:
        return self.fronts[name].url

    def schema(self, name: str) -> str:
        return f"replicas_{self.run}_{name}"

    def env_of(self, replica: Replica) -> dict[str, str]:
        """What a container of this replica gets: the shared configuration, its credentials, its own port,
        data directory and (for the IM) node id."""
        process = topology.load().processes[replica.name]
        p = process.env_prefix
        env = {k: v for k, v in os.environ.items() if not k.startswith("SANDBOX_")}
        env.update(
            {
                "DATABASE_URL": TEST_DATABASE_URL or "",
                f"{p}DATABASE_SCHEMA": self.schema(replica.name),
                f"{p}HOST": "127.0.0.1",
                f"{p}PORT": str(replica.port),
                f"{p}PUBLIC_URL": self.front(replica.name),
                f"{p}DATA_DIR": str(replica.data_dir),
                f"{p}IM_URL": self.front(topology.IM),
                "INFORMATION_MEDIATOR_NODE_ID": f"im-{replica.index}",
                "INFORMATION_MEDIATOR_REGISTRY_POLL_SECONDS": "0.5",
                **{f"SANDBOX_{name.upper()}_URL": self.front(name) for name in self.fronts},
            }
        )
        env.update(read_env_file(self.credentials / "env" / f"{replica.name}.env"))
        return env

    def start(self) -> None:
        bootstrap.new_credentials(self.credentials)
        names = list(topology.load().processes)
        for name in names:
            self.replicas[name] = [self._replica(name, i) for i in range(1, REPLICAS + 1)]
            self.fronts[name] = LiveServer(RoundRobin([r.url for r in self.replicas[name]])).start()
        for replica in self.all_replicas():
            mount_credentials(self.credentials, replica.name, replica.data_dir)
            with open(replica.log, "ab") as log:
                replica.proc = subprocess.Popen(
                    [sys.executable, "-m", "sandbox.cli", "serve", replica.name],
                    env=self.env_of(replica),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
        self._wait_healthy()

    def _replica(self, name: str, index: int) -> Replica:
        data_dir = self.root / f"{name}-{index}"
        return Replica(name, index, free_port(), data_dir, self.root / f"{name}-{index}.log")

    def all_replicas(self) -> list[Replica]:
        return [replica for group in self.replicas.values() for replica in group]

    def _wait_healthy(self) -> None:
        pending = self.all_replicas()
        deadline = time.monotonic() + START_SECONDS
        while pending:
            for replica in pending:
                if replica.proc.poll() is not None:
                    raise RuntimeError(f"{replica.name}-{replica.index} exited:\n{replica.log_text()[-3000:]}")
            pending = [r for r in pending if not _ready(r.url)]
            if pending and time.monotonic() > deadline:
                raise TimeoutError(f"not ready: {[f'{r.name}-{r.index}' for r in pending]}")
            time.sleep(0.2)

    def bootstrap_env(self) -> dict[str, str]:
        """The bootstrap Job's environment: every service's front as both its public and internal URL."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("SANDBOX_")}
        env.update({f"SANDBOX_{name.upper()}_URL": self.front(name) for name in self.fronts})
        return env

    def stop(self) -> None:
        for replica in self.all_replicas():
            if replica.proc and replica.proc.poll() is None:
                replica.proc.send_signal(signal.SIGTERM)
        for replica in self.all_replicas():
            if replica.proc:
                try:
                    replica.proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    replica.proc.kill()
                    replica.proc.wait()
        for front in self.fronts.values():
            front.stop()

    def drop_schemas(self) -> None:
        engine = create_engine(TEST_DATABASE_URL)
        with engine.begin() as conn:
            for name in self.replicas:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{self.schema(name)}" CASCADE'))
        engine.dispose()


def _ready(url: str) -> bool:
    try:
        return httpx.get(url + "/ready", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def read_env_file(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {key: value for key, value in pairs}


def mount_credentials(credentials: Path, name: str, data_dir: Path) -> None:
    """Copies the files a container of `name` gets mounted from its Secret into its data directory."""
    for path in bootstrap.service_files(name):
        target = data_dir / path
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(credentials / name / path, target)


@contextlib.contextmanager
def replicated_sandbox(root: Path) -> Iterator[ReplicatedSandbox]:
    sandbox = ReplicatedSandbox(root)
    try:
        sandbox.start()
        yield sandbox
    finally:
        sandbox.stop()
        sandbox.drop_schemas()
