"""What the workers of one service share (services/common/workers.py): a version number raised across the
fork, and a file lock that queues their SQLite writers."""

from __future__ import annotations

import os
import threading

import pytest

from services.common import workers
from services.common.workers import FileWriteLock, WorkerGroup


@pytest.fixture
def no_group():
    saved = workers._group
    workers._group = None
    yield
    workers._group = saved


def test_a_version_announced_by_one_worker_is_seen_by_the_others_and_never_goes_back(no_group):
    group = workers.form_group(2)
    assert workers.current() is None  # the parent is no worker
    pid = os.fork()
    if pid == 0:  # a worker announces a version, as the IM does after changing its registry
        workers.become_worker(1)
        workers.current().announce_version(7)
        workers.current().announce_version(5)  # an older reload does not lower it
        os._exit(0)
    os.waitpid(pid, 0)
    assert group.shared_version() == 7


def test_a_group_has_at_least_two_workers():
    with pytest.raises(ValueError):
        WorkerGroup(1)


def test_the_file_lock_lets_one_holder_in_at_a_time(tmp_path):
    path = str(tmp_path / "db.sqlite-writers.lock")
    first, second = FileWriteLock(path), FileWriteLock(path, timeout=0.05)
    assert first.acquire()
    assert not second.acquire()  # gave up after its timeout
    threading.Timer(0.05, first.release).start()
    assert FileWriteLock(path, timeout=5).acquire()  # gets in once the holder lets go (False: it gave up)
