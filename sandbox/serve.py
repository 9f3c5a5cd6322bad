"""Runs one service in the foreground: `python -m sandbox.serve <name>` (what `sandbox up` starts for each
process and what each container runs through `sandbox serve`). It imports only that service.

The port is `<PROCESS>_PORT`, else `SANDBOX_<PROCESS>_PORT`, else the topology's. The log gets one line
when the service listens (address, versions, database), then one access line per request (see
`services.common.logs.AccessLogMiddleware`). Started by `sandbox up`, the service stops by itself when the
launcher is gone, however the launcher died.

With `<PROCESS>_HTTPS_PORT`, `<PROCESS>_TLS_CERT_FILE` and `<PROCESS>_TLS_KEY_FILE` (the conformance profile
gives them to Consent) the same app also listens with TLS on that port, in the same process: one app, one
database, one start-up; the plain port stays for the sandbox's own traffic (the IM, `/health`). With
`<PROCESS>_TLS_CLIENT_CA_FILE` too (`sandbox up --mtls`), that listener takes only clients with a certificate
from that CA (the IM's), and the IM's calls come in there.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib
import logging
import os
import signal
import ssl
import sys
import threading
import time
from collections.abc import Iterator
from importlib import metadata
from typing import Any

import uvicorn

from . import topology

log = logging.getLogger("sandbox.serve")
LAUNCHER_PID = "SANDBOX_LAUNCHER_PID"


def serve(name: str) -> None:
    from services.common.limits import HTTPLimits
    from services.common.logs import AccessLogMiddleware

    process = topology.load().processes.get(name)
    if process is None:
        raise SystemExit(f"unknown service {name!r}; known: {', '.join(topology.load().processes)}")
    os.environ.setdefault(f"{process.env_prefix}PORT", str(process.port))  # the settings read it too
    app = importlib.import_module(process.module).create_app()
    settings = app.state.settings
    logging.getLogger("uvicorn.error").setLevel(logging.WARNING)  # its errors (a port in use) in our format
    options = {
        "host": settings.host,
        "log_config": None,
        "log_level": "warning",
        "access_log": False,
        "proxy_headers": False,
        "server_header": False,
        **HTTPLimits.from_env().uvicorn_options(),  # head size and time, keep-alive, connections
    }
    count = getattr(settings, "workers", 1)
    if count > 1:
        raise SystemExit(serve_workers(name, process, app, options, count))
    served = AccessLogMiddleware(app)
    config = uvicorn.Config(served, port=settings.port, **options)
    tls = _tls_listener(process.env_prefix, served, options, name)
    stop_with_launcher()
    Server(config, start_line=_start_line(name, app, settings), tls=tls).run()


def serve_workers(name: str, process: Any, app: Any, options: dict[str, Any], count: int) -> int:
    """The service as `count` worker processes on one port (sandbox/workers.py); returns the exit code."""
    from services.common.logs import AccessLogMiddleware
    from services.common.workers import current

    from .processes import pid_alive
    from .workers import WorkerSupervisor

    if os.environ.get(f"{process.env_prefix}HTTPS_PORT"):
        raise SystemExit(f"{name}: a TLS listener and several workers cannot be combined; run one worker")
    settings = app.state.settings
    app.state.db.migrate(app.state.migrations_dir)  # once, before the workers start together
    app.state.db.dispose()  # no connection crosses the fork
    sock = uvicorn.Config(app, port=settings.port, **options).bind_socket()

    def run_worker(sock: Any) -> None:
        worker_app = importlib.import_module(process.module).create_app()
        config = uvicorn.Config(AccessLogMiddleware(worker_app), port=settings.port, **options)
        start_line = f"{_start_line(name, worker_app, settings)}; worker {current().index + 1} of {count}"
        Server(config, start_line=start_line).run(sockets=[sock])

    launcher = int(os.environ.get(LAUNCHER_PID) or 0)
    return WorkerSupervisor(name, count, sock, run_worker).run(lambda: not launcher or pid_alive(launcher))


def _tls_listener(prefix: str, app: Any, options: dict[str, Any], name: str) -> TLSListener | None:
    """The HTTPS listener the environment asks for (`<PREFIX>HTTPS_PORT` and the certificate files), if any."""
    port = os.environ.get(f"{prefix}HTTPS_PORT")
    if not port:
        return None
    client_ca = os.environ.get(f"{prefix}TLS_CLIENT_CA_FILE")  # mutual TLS: only the IM's certificate gets in
    client_auth = {"ssl_ca_certs": client_ca, "ssl_cert_reqs": ssl.CERT_REQUIRED} if client_ca else {}
    config = uvicorn.Config(
        app,
        port=int(port),
        ssl_certfile=os.environ[f"{prefix}TLS_CERT_FILE"],
        ssl_keyfile=os.environ[f"{prefix}TLS_KEY_FILE"],
        lifespan="off",  # the app starts and stops once, with the plain listener
        **client_auth,
        **options,
    )
    return TLSListener(config, start_line=f"{name} listening on https://{config.host}:{port} (TLS)")


class Server(uvicorn.Server):
    """uvicorn's server, logging one line once it listens. With `tls`, a second listener of the same app: it
    starts once this one (and so the app) is up, and stops before this one shuts the app down."""

    def __init__(self, config: uvicorn.Config, start_line: str, tls: TLSListener | None = None):
        super().__init__(config)
        self.start_line = start_line
        self.tls = tls
        self._tls_task: asyncio.Task | None = None

    async def startup(self, sockets: list | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            # What exists once the app has started lives as long as the process: keep the cyclic collector
            # off it, so that a full collection scans only what requests create (in the IM such a collection
            # paused every exchange for 50-120 ms; see its README, Performance).
            gc.freeze()
            log.info(self.start_line)
            if self.tls is not None:
                self._tls_task = asyncio.create_task(self.tls.serve())

    async def shutdown(self, sockets: list | None = None) -> None:
        if self._tls_task is not None:
            self.tls.should_exit = True
            await self._tls_task
        await super().shutdown(sockets=sockets)


class TLSListener(uvicorn.Server):
    """The HTTPS listener beside `Server`: that server receives the signals and stops this one."""

    def __init__(self, config: uvicorn.Config, start_line: str):
        super().__init__(config)
        self.start_line = start_line

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def startup(self, sockets: list | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            log.info(self.start_line)


def _start_line(name: str, app: Any, settings: Any) -> str:
    from sqlalchemy.engine import make_url

    url, schema = settings.resolved_database()
    database = make_url(url).render_as_string(hide_password=True) + (f" (schema {schema})" if schema else "")
    return (
        f"{name} listening on http://{settings.host}:{settings.port} — {app.title} {app.version}, "
        f"bb-sandbox {_package_version()}, database {database}"
    )


def _package_version() -> str:
    try:
        return metadata.version("bb-sandbox")
    except metadata.PackageNotFoundError:
        return "(not installed)"


def serve_forked(name: str, environ: dict[str, str], log_file: str) -> None:
    """`serve(name)` in a process forked by `sandbox up`'s fork server (sandbox/launcher.py), set up as the
    launcher would start `python -m sandbox.serve name`: a session of its own (Ctrl-C reaches the launcher,
    which stops the services in order), its output appended to its log, the launcher's environment for it."""
    import setproctitle

    # The command line that ps, the launcher's port checks and `sandbox stop` recognise (sandbox/launcher.py).
    setproctitle.setproctitle(f"{sys.executable} -m sandbox.serve {name}")
    os.setsid()
    log_fd = os.open(log_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.close(log_fd)
    sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115 - the process's own streams
    sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
    os.environ.clear()
    os.environ.update(environ)
    serve(name)


def stop_with_launcher() -> None:
    """Under `sandbox up`: stop (as on Ctrl-C) once the launcher is gone, even if it was killed without a
    chance to stop us. The launcher itself is watched, not our parent: that is its fork server, which lives
    on while any service it forked does."""
    from .processes import pid_alive

    launcher = int(os.environ.get(LAUNCHER_PID) or 0)
    if not launcher:
        return

    def watch() -> None:
        while pid_alive(launcher):
            time.sleep(1)
        log.warning("the launcher (pid %s) is gone: stopping", launcher)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="launcher-watch", daemon=True).start()


if __name__ == "__main__":
    serve(sys.argv[1] if len(sys.argv) > 1 else "")
