"""`sandbox up`: start every written service as its own uvicorn process, wait for health, bootstrap them
(sandbox/bootstrap.py: the topology in the IM, the use cases' set-up hooks), print where everything is, and
supervise; the state file (`<data dir>/sandbox.json`) lets `sandbox status`, `sandbox stop` and the demos find
a running sandbox."""

from __future__ import annotations

import contextlib
import fcntl
import json
import multiprocessing
import os
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from multiprocessing import spawn
from pathlib import Path
from typing import IO
from urllib.parse import urlencode, urlsplit, urlunsplit

import httpx

from services.common.keys import load_or_create_secret
from services.common.tls import client_context

from .processes import command_of, describe_holder, free_port, pid_alive
from .topology import IM, Process, Topology

START_TIMEOUT = 45.0
SUPERVISE_INTERVAL = 0.5
RESTART_DELAYS = (1, 2, 4, 8, 16, 30)  # seconds before the 1st, 2nd, ... restart after consecutive failures
STEADY_SECONDS = 60.0  # a process up this long has recovered: its next failure starts the back-off again
STOP_SECONDS = 30.0  # how long `sandbox stop` waits for the launcher to stop everything
STATE_FILE = "sandbox.json"
LOCK_FILE = "sandbox.lock"  # held by the launcher while it starts and runs: one sandbox per data directory
DEFAULT_PROFILE = "default"


class LaunchError(RuntimeError):
    pass


class Interrupted(LaunchError):
    """A stop was asked for (Ctrl-C, SIGTERM, SIGHUP) before the sandbox was up."""


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
    # What a profile (`sandbox up --profile`, sandbox/conformance/) adds: its name, each process's extra
    # environment (applied last), and the HTTPS addresses it serves besides the processes' own URLs.
    profile: str = DEFAULT_PROFILE
    extra_env: dict[str, dict[str, str]] = field(default_factory=dict)
    https_urls: dict[str, str] = field(default_factory=dict)
    # What a browser uses, by process, when it differs from what the services call (behind a proxy, an
    # ingress, or compose's published ports); see sandbox/bootstrap.py.
    public_urls: dict[str, str] = field(default_factory=dict)
    # `sandbox up --mtls`: the IM reaches each provider on a listener of its own that takes only the IM's
    # client certificate from the local CA (`prepare_mtls`).
    mtls: bool = False

    @property
    def im_url(self) -> str:
        return self.topology.processes[IM].url

    def url(self, process: str) -> str:
        return self.topology.processes[process].url

    def public_url(self, process: str) -> str:
        return self.public_urls.get(process) or self.url(process)

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

    def prepare_mtls(self, names: list[str]) -> None:
        """Mutual TLS between the IM and the providers, as between X-Road security servers: the local CA under
        `<data dir>/tls/ca` (sandbox/local_ca.py), a server certificate and a second listener (a free port)
        for every provider, which then serves its IM services there only, and the IM's client certificate."""
        from .local_ca import LocalCA

        ca = LocalCA(self.data_dir / "tls" / "ca").ensure()
        ca_file = str(ca.cert_file.resolve())
        taken = {process.port for process in self.topology.processes.values()}
        for name in names:
            if name == IM:
                continue
            process, pair = self.topology.processes[name], ca.server(name)
            port = free_port()
            while port in taken:
                port = free_port()
            p = process.env_prefix
            self.extra_env.setdefault(name, {}).update(
                {
                    f"{p}HTTPS_PORT": str(port),
                    f"{p}TLS_CERT_FILE": str(pair.cert_file.resolve()),
                    f"{p}TLS_KEY_FILE": str(pair.key_file.resolve()),
                    f"{p}TLS_CLIENT_CA_FILE": ca_file,
                    f"{p}REQUIRE_MTLS": "true",
                }
            )
            process.mediated_address = f"https://127.0.0.1:{port}"
        client = ca.client("information-mediator")
        self.extra_env.setdefault(IM, {}).update(
            {
                "INFORMATION_MEDIATOR_UPSTREAM_CA_FILE": ca_file,
                "INFORMATION_MEDIATOR_UPSTREAM_CERT_FILE": str(client.cert_file.resolve()),
                "INFORMATION_MEDIATOR_UPSTREAM_KEY_FILE": str(client.key_file.resolve()),
            }
        )
        self.mtls = True

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
                "SANDBOX_LAUNCHER_PID": str(os.getpid()),  # the service stops when this launcher is gone
                **{f"SANDBOX_{name.upper()}_URL": proc.url for name, proc in self.topology.processes.items()},
            }
        )
        env.update(self.credentials_env(process))
        env.update(self.extra_env.get(process.name, {}))
        return env

    def credentials_env(self, process: Process) -> dict[str, str]:
        """The IM credentials one process gets (also written to env files by `sandbox bootstrap
        --new-credentials` for containers)."""
        p, env = process.env_prefix, {}
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
    """Starts the processes, then keeps them running: one that dies is restarted with back-off and reported,
    its siblings run on. Only a stop request (Ctrl-C, SIGTERM, SIGHUP: `request_stop`) ends it."""

    def __init__(self, sandbox: Sandbox, say: Callable[[str], None] = print):
        self.sandbox = sandbox
        self.say = say
        self.children: dict[str, ServiceProcess] = {}
        self.logs_dir = sandbox.data_dir / "logs"
        self.stop_requested = threading.Event()
        self._recovery: dict[str, Recovery] = {}

    def request_stop(self, *_: object) -> None:
        """A signal handler: set a flag only, the start-up and supervision loops act on it."""
        self.stop_requested.set()

    def raise_if_stopping(self) -> None:
        if self.stop_requested.is_set():
            raise Interrupted("stopped during start-up")

    def log_path(self, name: str) -> Path:
        return self.logs_dir / f"{name}.log"

    def log_tail(self, name: str, lines: int = 25) -> str:
        path = self.log_path(name)
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else "(no log)"

    def start_all(self, names: list[str]) -> None:
        ServiceProcess.warm_up()
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        for name in names:
            self.raise_if_stopping()
            self._spawn(name)
        self.wait_healthy(names)
        self.sandbox.running = names

    def _spawn(self, name: str) -> None:
        environ = self.sandbox.env_for(self.sandbox.topology.processes[name])
        self.children[name] = ServiceProcess.start(name, environ, self.log_path(name))

    def wait_healthy(self, names: list[str]) -> None:
        pending = set(names)
        deadline = time.monotonic() + START_TIMEOUT
        with httpx.Client(timeout=1.0, verify=client_context()) as http:
            while pending:
                self.raise_if_stopping()
                for name in sorted(pending):
                    if self.children[name].poll() is not None:
                        raise LaunchError(self._start_failure(name))
                    if self._answers_as_our_child(http, name):
                        pending.discard(name)
                if pending and time.monotonic() > deadline:
                    name = sorted(pending)[0]
                    raise LaunchError(f"{name} did not become healthy in {START_TIMEOUT:.0f} s:\n{self.log_tail(name)}")
                if pending:
                    time.sleep(0.05)

    def _start_failure(self, name: str) -> str:
        tail = self.log_tail(name)
        if "address already in use" not in tail:
            return f"{name} exited during start-up:\n{tail}"
        port = self.sandbox.topology.processes[name].port
        return f"{name} exited during start-up: {taken_port_advice(name, port)}\n{tail}"

    def _answers_as_our_child(self, http: httpx.Client, name: str) -> bool:
        """Healthy, and it is the process we started: another program on the port answers with another id."""
        try:
            response = http.get(self.sandbox.url(name) + "/health")
            return response.status_code == 200 and response.json().get("launch") == self.sandbox.launch_id
        except (httpx.HTTPError, ValueError, AttributeError):
            return False

    def supervise(self, on_change: Callable[[], None] = lambda: None) -> None:
        """Until a stop is requested: restart each process that dies, after a growing pause, and report it.
        `on_change` runs after every restart (the launcher rewrites its state file with the new pid)."""
        with httpx.Client(timeout=1.0, verify=client_context()) as http:
            while not self.stop_requested.wait(SUPERVISE_INTERVAL):
                if self.tend(http):
                    on_change()

    def tend(self, http: httpx.Client) -> bool:
        """One round of supervision; True if a process was started again."""
        now, restarted = time.monotonic(), False
        for name, proc in list(self.children.items()):
            recovery = self._recovery.setdefault(name, Recovery())
            if recovery.restart_at is not None:
                if now >= recovery.restart_at:
                    recovery.restart_at, recovery.awaiting_health = None, True
                    self._spawn(name)
                    restarted = True
            elif proc.poll() is not None:
                self._report_death(name, proc.returncode, recovery, now)
            elif recovery.awaiting_health and self._answers_as_our_child(http, name):
                recovery.awaiting_health, recovery.up_since = False, now
                self.say(f"{name} is running again (pid {proc.pid}, restart {recovery.failures})")
            elif recovery.failures and not recovery.awaiting_health and now - recovery.up_since > STEADY_SECONDS:
                recovery.failures = 0
        return restarted

    def _report_death(self, name: str, code: int, recovery: Recovery, now: float) -> None:
        recovery.failures += 1
        delay = RESTART_DELAYS[min(recovery.failures, len(RESTART_DELAYS)) - 1]
        recovery.restart_at, recovery.awaiting_health = now + delay, False
        self.say(
            f"{name} stopped unexpectedly ({exit_description(code)}); restarting it in {delay} s "
            f"(failure {recovery.failures}); the other processes keep running. "
            f"Last lines of {self.log_path(name)}:\n{self.log_tail(name, 8)}"
        )

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
                proc.wait()


class ServiceProcess:
    """A service forked from the launcher's fork server (`multiprocessing`'s "forkserver"), which imported what
    every service uses once (sandbox/preload.py): a service starts without importing it again, and the services
    share that memory. It runs `sandbox.serve.serve_forked`, the same as `python -m sandbox.serve <name>`.
    The methods are those of `subprocess.Popen` the supervisor uses."""

    _context: multiprocessing.context.BaseContext | None = None

    def __init__(self, process: multiprocessing.process.BaseProcess):
        self.process = process

    @classmethod
    def warm_up(cls, migrations: bool = True) -> None:
        """Start the fork server now, so that it imports while the launcher prepares (idempotent). With
        `migrations`, it imports Alembic too, for the services to migrate with (`may_migrate`)."""
        if cls._context is None:
            cls._context = multiprocessing.get_context("forkserver")
            cls._context.set_forkserver_preload(["sandbox.preload"] + (["alembic.command"] if migrations else []))
            from multiprocessing import forkserver

            forkserver.ensure_running()

    @classmethod
    def start(cls, name: str, environ: dict[str, str], log_file: Path) -> ServiceProcess:
        cls.warm_up()
        from .serve import serve_forked

        process = cls._context.Process(
            target=serve_forked, args=(name, environ, str(log_file)), name=f"sandbox-{name}", daemon=True
        )
        with _children_skip_main():
            process.start()
        return cls(process)

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def returncode(self) -> int | None:
        return self.process.exitcode

    def poll(self) -> int | None:
        return self.process.exitcode

    def send_signal(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.process.pid, signum)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def wait(self, timeout: float | None = None) -> int:
        self.process.join(timeout)
        if self.process.exitcode is None:
            raise subprocess.TimeoutExpired(f"sandbox-{self.process.name}", timeout or 0)
        return self.process.exitcode


def may_migrate(data_dir: Path, names: list[str]) -> bool:
    """Whether a service may find its database behind its migrations, so that the fork server had better import
    Alembic once for all: on a first start (a service without its data directory yet) or on a database given
    by URL (PostgreSQL, not looked into here). On a restart the SQLite databases are at head and Alembic is not
    needed (0.1-0.2 s of the fork server's CPU, before any service can start); a service that does find new
    migrations imports Alembic itself."""
    if any(key.endswith("DATABASE_URL") for key in os.environ):
        return True
    return any(not (data_dir / name).is_dir() for name in names)


@contextlib.contextmanager
def _children_skip_main() -> Iterator[None]:
    """multiprocessing has each child run the parent's main module again before its target (for `sandbox up`,
    `sandbox.cli` with click and rich): CPU and private memory in every service for nothing, since the target
    (`sandbox.serve.serve_forked`) comes from its own module. Here a child is told of no main module."""
    original = spawn.get_preparation_data

    def without_main(name: str) -> dict:
        data = original(name)
        data.pop("init_main_from_name", None)
        data.pop("init_main_from_path", None)
        return data

    spawn.get_preparation_data = without_main
    try:
        yield
    finally:
        spawn.get_preparation_data = original


@dataclass
class Recovery:
    """A supervised process's restarts: consecutive failures (reset after a steady run), when the next start
    is due while it is down, and whether a restarted process has not answered /health yet."""

    failures: int = 0
    restart_at: float | None = None
    awaiting_health: bool = False
    up_since: float = 0.0


def exit_description(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def taken_port_advice(name: str, port: int) -> str:
    """Port N of `name` is taken, by whom, and how to get out of it."""
    holder = describe_holder(port)
    advice = (
        f"port {port} of {name} is taken (address already in use) by {holder}. Stop that program, or give "
        f"{name} another port: `sandbox up --port {name}=PORT` (or SANDBOX_{name.upper()}_PORT=PORT)."
    )
    if "sandbox.serve" in holder:
        advice += " It is a sandbox service left running: `sandbox stop` in its folder stops it."
    return advice


def lock_data_dir(data_dir: Path) -> IO | None:
    """The data directory's lock, held until the launcher exits (however it exits); None if another
    launcher holds it."""
    data_dir.mkdir(parents=True, exist_ok=True)
    handle = open(data_dir / LOCK_FILE, "a")  # noqa: SIM115 - held for the launcher's lifetime
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    return handle


def starting(data_dir: Path) -> bool:
    """Whether a launcher holds the lock of a data directory that has no state file yet (it is starting)."""
    if not (data_dir / LOCK_FILE).exists() or (data_dir / STATE_FILE).exists():
        return False
    lock = lock_data_dir(data_dir)
    if lock is None:
        return True
    lock.close()
    return False


def write_state(sandbox: Sandbox, supervisor: Supervisor) -> Path:
    path = sandbox.data_dir / STATE_FILE
    state = {
        "launcher_pid": os.getpid(),
        "launch": sandbox.launch_id,
        "profile": sandbox.profile,
        "database": shared_database(),
        "processes": {n: {"pid": p.pid, "url": sandbox.url(n)} for n, p in supervisor.children.items()},
        "https": sandbox.https_urls,
        "replaced": sandbox.topology.replaced,  # `sandbox up --replace`: what runs elsewhere
        # `sandbox up --mtls`: where the IM reaches each provider (its mutual-TLS listener)
        "mtls": {
            n: sandbox.topology.processes[n].mediated_url for n in supervisor.children if sandbox.mtls and n != IM
        },
    }
    partial = path.with_suffix(".json.tmp")
    partial.write_text(json.dumps(state, indent=2))
    partial.replace(path)  # whoever reads it (status, stop, demos) sees the old file or the new one
    return path


def shared_database() -> str | None:
    """The `DATABASE_URL` the sandbox runs on, without its password (None: each service's SQLite file), so that
    a command run later beside it can tell whether it sees the same database."""
    url = os.environ.get("DATABASE_URL")
    if not url:
        return None
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


def read_state(data_dir: Path) -> dict | None:
    try:
        state = json.loads((data_dir / STATE_FILE).read_text())
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) and "launcher_pid" in state else None


def remove_state(data_dir: Path) -> None:
    (data_dir / STATE_FILE).unlink(missing_ok=True)


def launcher_running(state: dict) -> bool:
    """Whether the launcher that wrote `state` still runs (a pid reused by another program does not count)."""
    pid = state["launcher_pid"]
    if not pid_alive(pid):
        return False
    command = command_of(pid)
    return command is None or "sandbox" in command


def services_running(state: dict) -> dict[str, int]:
    """The processes of `state` that still run, by name: what a launcher that died left behind."""
    running = {}
    for name, info in state.get("processes", {}).items():
        pid = info.get("pid")
        command = command_of(pid) if pid_alive(pid) else None
        if command and "sandbox.serve" in command and command.split()[-1] == name:
            running[name] = pid
    return running


def stop_sandbox(data_dir: Path, say: Callable[[str], None]) -> bool:
    """Stops the sandbox that runs from `data_dir`, whichever terminal started it; False if none was there.

    The launcher is asked to stop (SIGTERM: it stops its processes and removes its state file); processes
    that a dead launcher left behind are stopped one by one."""
    state = read_state(data_dir)
    if state is None:
        return False
    if launcher_running(state):
        pid = state["launcher_pid"]
        say(f"stopping the sandbox (launcher pid {pid})…")
        os.kill(pid, signal.SIGTERM)
        if not _wait_gone([pid], STOP_SECONDS):
            say(f"the launcher did not stop in {STOP_SECONDS:.0f} s: killing it")
            _kill(pid)
    leftovers = services_running(state)
    for name, pid in leftovers.items():
        say(f"stopping {name} (pid {pid}), left running without its launcher")
        os.kill(pid, signal.SIGTERM)
    if not _wait_gone(list(leftovers.values()), 10):
        for pid in leftovers.values():
            _kill(pid)
    remove_state(data_dir)
    return True


def _wait_gone(pids: list[int], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while any(pid_alive(pid) for pid in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
