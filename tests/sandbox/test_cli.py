"""The `sandbox` command as a newcomer meets it (issue 19): a mistake is reported before anything starts,
with what to do about it, and every command knows whether a sandbox is in the current folder."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from sandbox import topology
from sandbox.launcher import lock_data_dir
from tests.support import free_port

ROOT = Path(__file__).resolve().parents[2]


def sandbox(*args: str, cwd: Path, env: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    """`sandbox ARGS` run in `cwd` as a person runs it (its own process, the installed code)."""
    clean = {k: v for k, v in os.environ.items() if not k.endswith("_DATA_DIR") and k != "DATABASE_URL"}
    return subprocess.run(
        [sys.executable, "-m", "sandbox.cli", *args],
        cwd=cwd,
        env={**clean, "PYTHONPATH": str(ROOT), "COLUMNS": "200", **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_only_with_an_unknown_name_is_an_error_that_lists_the_known_names(tmp_path):
    done = sandbox("up", "--only", "paymnets", cwd=tmp_path)
    assert done.returncode == 2
    assert "unknown process 'paymnets'" in done.stderr
    for name in topology.load().processes:
        assert name in done.stderr
    assert not (tmp_path / "var").exists()


def test_a_taken_port_is_reported_by_name_and_holder_before_anything_starts(tmp_path):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))  # the kernel's choice: a free_port() could be taken before the bind
        holder.listen()
        port = holder.getsockname()[1]
        done = sandbox("up", "--only", "consent", "--port", f"consent={port}", cwd=tmp_path)
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert f"port {port} of consent is taken (address already in use) by pid {os.getpid()}" in output
    assert "--port consent=PORT" in output and "SANDBOX_CONSENT_PORT" in output
    assert "Traceback" not in output
    # Nothing was started: no log, no secret, no state, and no welcome table.
    var = tmp_path / "var"
    assert not (var / "logs").exists() and not (var / "secrets").exists() and not (var / "sandbox.json").exists()
    assert "Demo logins" not in output


def test_up_refuses_while_another_launcher_holds_the_folder(tmp_path):
    lock = lock_data_dir(tmp_path / "var")  # as a starting `sandbox up` holds it
    try:
        done = sandbox("up", "--only", "consent", "--port", f"consent={free_port()}", cwd=tmp_path)
    finally:
        lock.close()
    assert done.returncode == 1
    assert "a sandbox already runs from var (it is starting)" in done.stderr
    assert not (tmp_path / "var" / "logs").exists()


def test_status_outside_a_sandbox_folder_says_there_is_none(tmp_path):
    done = sandbox("status", cwd=tmp_path)
    assert done.returncode == 1
    assert "No sandbox in this folder" in done.stdout
    assert "UP" not in done.stdout and "DOWN" not in done.stdout
    assert list(tmp_path.iterdir()) == []


def test_status_knows_a_stale_state_file(tmp_path):
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    var = tmp_path / "var"
    var.mkdir()
    url = f"http://127.0.0.1:{free_port()}"
    (var / "sandbox.json").write_text(
        json.dumps({"launcher_pid": gone.pid, "launch": "x", "processes": {"consent": {"pid": gone.pid, "url": url}}})
    )
    done = sandbox("status", cwd=tmp_path)
    assert done.returncode == 1
    assert f"The launcher (pid {gone.pid}) is gone: this state is stale" in done.stdout
    assert f"{gone.pid} (gone)" in done.stdout and "DOWN" in done.stdout
    # `sandbox up` would clean it away; `sandbox stop` does too, and says there was nothing left to stop.
    stopped = sandbox("stop", cwd=tmp_path)
    assert stopped.returncode == 0 and not (var / "sandbox.json").exists()


def test_stop_without_a_sandbox_has_nothing_to_do(tmp_path):
    done = sandbox("stop", cwd=tmp_path)
    assert done.returncode == 0
    assert "nothing to stop" in done.stdout


@pytest.mark.parametrize("command", [("im", "verify-log"), ("consent", "audit")], ids=["im", "consent"])
def test_operator_commands_outside_a_sandbox_folder_say_so_and_create_nothing(tmp_path, command):
    done = sandbox(*command, cwd=tmp_path)
    assert done.returncode == 2
    assert "no sandbox in this folder" in done.stderr and "sandbox up" in done.stderr
    assert "Traceback" not in done.stderr
    assert list(tmp_path.iterdir()) == []  # no stray database, no signing key


def test_operator_help_needs_no_sandbox(tmp_path):
    done = sandbox("im", "verify-log", "--help", cwd=tmp_path)
    assert done.returncode == 0 and "message log" in done.stdout


def test_the_demo_names_the_option_that_is_missing(tmp_path):
    done = sandbox("demo", "construction-permit", "--url", "http://127.0.0.1:9", cwd=tmp_path)
    assert done.returncode == 1
    assert "--payments-url" in done.stderr
