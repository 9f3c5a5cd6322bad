"""What a worker process knows of its siblings when a service runs as several processes behind one port
(`<PREFIX>WORKERS`; `sandbox serve` binds the port, forks the workers and keeps them running, see
sandbox/workers.py).

The group is made in the parent before it forks, so that what it holds is shared by every worker: a version
number the workers raise when they change something all of them cache (the IM's registry), so that a change
made through one worker is seen by the next request any of them serves; and, for SQLite, a lock file that
queues the workers' writers on the kernel instead of SQLite's sleeping busy handler."""

from __future__ import annotations

import ctypes
import errno
import fcntl
import multiprocessing
import os
import time


class WorkerGroup:
    def __init__(self, count: int):
        if count < 2:
            raise ValueError("a worker group has at least two workers")
        self.count = count
        self.index: int | None = None  # this process's place in the group, set in each worker after the fork
        self._version = multiprocessing.RawValue(ctypes.c_int64, 0)
        self._version_lock = multiprocessing.Lock()

    def shared_version(self) -> int:
        """The highest version a worker has announced (an aligned 64-bit read: no lock needed)."""
        return self._version.value

    def announce_version(self, version: int) -> None:
        with self._version_lock:
            if version > self._version.value:
                self._version.value = version


_group: WorkerGroup | None = None


def form_group(count: int) -> WorkerGroup:
    """In the parent, before it forks the workers."""
    global _group
    _group = WorkerGroup(count)
    return _group


def become_worker(index: int) -> None:
    """In a worker, right after the fork."""
    if _group is None:
        raise RuntimeError("no worker group was formed before the fork")
    _group.index = index


def current() -> WorkerGroup | None:
    """The group this process is a worker of, or None when the service runs as one process."""
    return _group if _group is not None and _group.index is not None else None


class FileWriteLock:
    """An exclusive lock on a file, shared by every process that opens the same path: the workers' SQLite
    writers take turns on it. Waiting polls every few hundred microseconds (SQLite's own busy handler sleeps
    1 to 100 ms), and gives up after `timeout`, leaving the writer to SQLite's lock, as a thread does after
    waiting that long for the process's own write lock."""

    def __init__(self, path: str, timeout: float = 30):
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        self._timeout = timeout

    def acquire(self) -> bool:
        deadline = time.monotonic() + self._timeout
        pause = 0.0001
        while True:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES) or time.monotonic() > deadline:
                    return False
            time.sleep(pause)
            pause = min(pause * 2, 0.001)

    def release(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)
