"""`sandbox serve` for a service that runs as several worker processes behind one port (`<PREFIX>WORKERS`,
e.g. `INFORMATION_MEDIATOR_WORKERS=2`).

The parent builds the app once, which makes the service's keys and secrets on a first start, brings the
database to its schema, binds the port and forms the worker group (services.common.workers), then forks the
workers. Each builds its own app (its own database pool, threads and caches) and accepts on the shared socket:
the kernel hands each connection to one of them. The parent only watches: it starts a worker again when one
dies, stops them all on SIGTERM or SIGINT (and when the launcher is gone), and exits with the first failure's
code if workers keep dying at start. Prometheus metrics are kept in files of a directory of the parent's
(`PROMETHEUS_MULTIPROC_DIR`), so that a scrape of any worker counts every worker's requests."""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
import traceback
from collections.abc import Callable

from services.common import workers

log = logging.getLogger("sandbox.serve")
QUICK_DEATHS = 3  # a worker that dies within START_GRACE this many times in a row: the service fails
START_GRACE = 5.0
STOP_GRACE = 15.0
PR_SET_PDEATHSIG = 1


class WorkerSupervisor:
    def __init__(self, name: str, count: int, sock: socket.socket, run_worker: Callable[[socket.socket], None]):
        """`run_worker(sock)` builds the app and serves on `sock` until told to stop (in the forked worker)."""
        self.name = name
        self.count = count
        self.sock = sock
        self.run_worker = run_worker
        self.children: dict[int, tuple[int, float]] = {}  # pid -> (index, started at)
        self.quick_deaths = 0
        self.stop_requested = False
        self.kill_at: float | None = None  # once stopping: when the workers still running get SIGKILL
        self.exit_code = 0

    def run(self, launcher_alive: Callable[[], bool]) -> int:
        workers.form_group(self.count)
        metrics_dir = tempfile.mkdtemp(prefix=f"{self.name}-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
        signal.signal(signal.SIGTERM, self._request_stop)
        signal.signal(signal.SIGINT, self._request_stop)
        try:
            for index in range(self.count):
                self._fork(index)
            while self.children:
                if not self.stop_requested and not launcher_alive():
                    log.warning("the launcher is gone: stopping %s's workers", self.name)
                    self.stop_requested = True
                if self.stop_requested and self.kill_at is None:
                    self._stop_workers()
                self._reap()
                if self.kill_at is not None and time.monotonic() > self.kill_at:
                    break  # the rest get SIGKILL below
                time.sleep(0.05 if self.kill_at is not None else 0.2)
        finally:
            for pid in self.children:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            shutil.rmtree(metrics_dir, ignore_errors=True)
        return self.exit_code

    def _fork(self, index: int) -> None:
        pid = os.fork()
        if pid == 0:
            os._exit(self._worker(index))
        self.children[pid] = (index, time.monotonic())

    def _worker(self, index: int) -> int:
        try:
            _die_with_parent()
            signal.signal(signal.SIGTERM, signal.SIG_DFL)  # uvicorn installs its own once it runs
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            workers.become_worker(index)
            self.run_worker(self.sock)
            return 0
        except BaseException:  # noqa: BLE001 - whatever stops a worker is reported, then the parent decides
            traceback.print_exc()
            return 1
        finally:
            sys.stdout.flush()
            sys.stderr.flush()

    def _reap(self) -> None:
        while self.children:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                return
            index, started = self.children.pop(pid, (None, 0.0))
            if index is None or self.stop_requested:
                continue
            code = os.waitstatus_to_exitcode(status)
            log.warning("%s worker %d (pid %d) stopped (%s): starting it again", self.name, index, pid, code)
            self.quick_deaths = self.quick_deaths + 1 if time.monotonic() - started < START_GRACE else 0
            if self.quick_deaths >= QUICK_DEATHS:
                log.error("%s workers keep dying at start: stopping", self.name)
                self.exit_code = code or 1
                self.stop_requested = True
                return
            self._fork(index)

    def _request_stop(self, *_: object) -> None:
        self.stop_requested = True  # acted on by the watching loop, not inside the signal handler

    def _stop_workers(self) -> None:
        self.kill_at = time.monotonic() + STOP_GRACE
        for pid in self.children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)


def _die_with_parent() -> None:
    """A worker gets SIGTERM when the parent dies, even by SIGKILL (Linux; elsewhere the launcher's watch
    still stops the parent, which stops its workers)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
