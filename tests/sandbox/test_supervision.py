"""`sandbox up` keeps its services running and takes them down with it (issue 19): a closed terminal, a
killed launcher, `sandbox stop` from another terminal or Ctrl-C during start-up leave nothing behind; a
service that dies is restarted and reported while the others stay up. Real processes (IM + Consent)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import pytest

from sandbox.launcher import SUPERVISE_INTERVAL
from tests.e2e.launcher import RunningSandbox
from tests.support import wait_until
from tests.usecases.stack import running_stack

from .test_cli import ROOT, sandbox

pytestmark = pytest.mark.e2e
ONLY = ("consent",)  # with the IM: the smallest sandbox


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (ProcessLookupError, FileNotFoundError):
        return False


def service_pids(running: RunningSandbox) -> dict[str, int]:
    return {name: info["pid"] for name, info in running.state["processes"].items()}


def all_gone(pids: list[int], seconds: float = 15) -> bool:
    return wait_until(lambda: not any(alive(pid) for pid in pids), seconds, 0.1)


def test_sighup_to_the_launcher_leaves_no_service_running(tmp_path):
    running = RunningSandbox(tmp_path / "var", only=ONLY).start()
    try:
        pids = list(service_pids(running).values())
        running.proc.send_signal(signal.SIGHUP)  # the terminal was closed
        running.proc.wait(timeout=30)
        assert all_gone(pids), "services outlived the launcher"
        assert not (tmp_path / "var" / "sandbox.json").exists()
    finally:
        running.stop()


def test_a_killed_launcher_leaves_no_service_running(tmp_path):
    running = RunningSandbox(tmp_path / "var", only=ONLY).start()
    try:
        pids = list(service_pids(running).values())
        running.proc.kill()  # no chance to stop anything: the services notice by themselves
        running.proc.wait(timeout=10)
        assert all_gone(pids), "services outlived the killed launcher"
        status = sandbox("status", cwd=tmp_path)
        assert status.returncode == 1 and "stale" in status.stdout
    finally:
        running.stop()


def test_sandbox_stop_stops_a_sandbox_started_in_another_terminal(tmp_path):
    running = RunningSandbox(tmp_path / "var", only=ONLY).start()
    try:
        pids = [running.proc.pid, *service_pids(running).values()]
        done = sandbox("stop", cwd=tmp_path)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "sandbox stopped" in done.stdout
        assert running.proc.wait(timeout=10) == 0
        assert all_gone(pids)
        assert not (tmp_path / "var" / "sandbox.json").exists()
        assert "nothing to stop" in sandbox("stop", cwd=tmp_path).stdout
    finally:
        running.stop()


def test_ctrl_c_during_start_up_prints_no_welcome_and_leaves_nothing(tmp_path):
    var = tmp_path / "var"
    ports = RunningSandbox(var, only=ONLY).ports
    args = [sys.executable, "-m", "sandbox.cli", "up", "--data-dir", str(var), "--only", "consent"]
    args += [a for name, port in ports.items() for a in ("--port", f"{name}={port}")]
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        assert wait_until(lambda: (var / "logs" / "consent.log").exists(), 60, 0.02), "start-up never began"
        proc.send_signal(signal.SIGINT)
        output = proc.communicate(timeout=30)[0].decode()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, output
    assert "start-up interrupted" in output
    assert "GovStack sandbox" not in output and "Demo logins" not in output and "Press Ctrl-C" not in output
    for port in ports.values():
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)


def test_a_killed_service_is_restarted_with_back_off_and_the_others_stay_up(tmp_path):
    running = RunningSandbox(tmp_path / "var", only=ONLY).start()
    try:
        before = service_pids(running)
        os.kill(before["consent"], signal.SIGKILL)

        def consent_back() -> bool:
            if service_pids(running)["consent"] == before["consent"]:
                return False
            try:
                return running.get("consent", "/health").json().get("launch") == running.state["launch"]
            except httpx.HTTPError:
                return False

        assert wait_until(consent_back, 60, 0.2), "consent was not restarted"
        # The supervisor reports the recovery at its next round (every SUPERVISE_INTERVAL), which a service
        # forked from the fork server can beat: give it a few rounds before stopping.
        time.sleep(4 * SUPERVISE_INTERVAL)
        assert running.proc.poll() is None, "the launcher gave up"
        assert service_pids(running)["information_mediator"] == before["information_mediator"]
        assert alive(before["information_mediator"])
        status = sandbox("status", cwd=tmp_path)
        assert status.returncode == 0, status.stdout
    finally:
        running.stop()
    output = running.output.decode(errors="replace")
    assert "consent stopped unexpectedly (killed by SIGKILL); restarting it in 1 s" in output, output
    assert "consent is running again" in output
    assert running.proc.returncode == 0


@pytest.fixture(scope="module")
def up(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sandbox-folder")
    # Schemas of its own on PostgreSQL: the operator commands must read this sandbox's records only.
    with running_stack(folder / "var", ("information_mediator", *ONLY), "supervised") as running:
        yield folder, running


def test_up_takes_the_topology_to_its_one_im_without_polling_it_for_replicas(up):
    folder, _ = up
    log = folder / "var" / "logs" / "information_mediator.log"
    # The IM writes a request's line once its answer is sent: the launcher may read the answer first.
    assert wait_until(lambda: "/api/v1/config 201" in log.read_text(), 10, 0.1), log.read_text()
    lines = log.read_text().splitlines()
    taken = next(i for i, line in enumerate(lines) if "/api/v1/config 201" in line)
    assert [line for line in lines[:taken] if "GET /api/v1/status 200" in line], "the launcher asks the IM first"
    assert not any("GET /api/v1/status" in line for line in lines[taken + 1 : taken + 2])


def test_operator_commands_find_the_sandbox_of_the_current_folder(up):
    folder, running = up
    client = "SANDBOX/GOV/SOCIAL-WELFARE/USCT"
    url = f"{running.url('information_mediator')}/r1/SANDBOX/GOV/DATA-PROTECTION-AUTHORITY/CONSENT/consent"
    headers = {"Information-Mediator-Client": client, "Information-Mediator-Client-Secret": running.secret(client)}
    httpx.get(url + "/service/data-agreement/da-usct-enrollment/", headers=headers, timeout=10)
    # the operator's shell is the one `sandbox up` ran in: the same database settings, if any
    shell = {k: v for k, v in running.env.items() if k == "DATABASE_URL" or k.endswith("_DATABASE_SCHEMA")}
    log = sandbox("im", "verify-log", cwd=folder, env=shell)
    assert log.returncode == 0, log.stdout + log.stderr
    assert "message log intact" in log.stdout and " 0 records" not in log.stdout
    audit = sandbox("consent", "audit", cwd=folder, env=shell)
    assert audit.returncode == 0, audit.stdout + audit.stderr
    assert "every chain and signature verifies" in audit.stdout


def test_a_call_without_the_client_secret_is_told_which_header_is_missing(up):
    _, running = up
    url = f"{running.url('information_mediator')}/r1/SANDBOX/GOV/DATA-PROTECTION-AUTHORITY/CONSENT/consent"
    refused = httpx.get(
        url + "/service/data-agreement/da-usct-enrollment/",
        headers={"Information-Mediator-Client": "SANDBOX/GOV/SOCIAL-WELFARE/USCT"},
        timeout=10,
    )
    assert refused.status_code == 401
    assert "Information-Mediator-Client-Secret" in refused.json()["message"]


def test_the_logs_have_a_start_line_and_access_lines_not_alembic(up):
    folder, running = up
    client = "SANDBOX/GOV/SOCIAL-WELFARE/USCT"
    url = f"{running.url('information_mediator')}/r1/SANDBOX/GOV/DATA-PROTECTION-AUTHORITY/CONSENT/consent"
    headers = {"Information-Mediator-Client": client, "Information-Mediator-Client-Secret": running.secret(client)}
    mediated = httpx.get(url + "/service/data-agreement/da-usct-enrollment/", headers=headers, timeout=10)
    message_id = mediated.headers["X-Road-Id"]
    running.get("consent", "/service/individual/record/consent-record/3274838264/")  # no assertion: 401
    logs = folder / "var" / "logs"
    consent, im = logs / "consent.log", logs / "information_mediator.log"
    assert wait_until(lambda: "consent-record/{id}/ 401" in consent.read_text(), 10, 0.1), consent.read_text()
    text = consent.read_text()
    assert "alembic" not in text.lower()
    assert f"consent listening on {running.url('consent')}" in text and "bb-sandbox" in text
    lines = text.splitlines()
    served = next(line for line in lines if f"message={message_id}" in line)
    assert "GET /service/data-agreement/{dataAgreementId}/ 200" in served and " ms " in served
    refused = next(line for line in lines if "consent-record/{id}/ 401" in line)
    assert "GET /service/individual/record/consent-record/{id}/ 401" in refused
    assert "(missing header Information-Mediator-Assertion)" in refused
    assert "3274838264" not in text  # the identifier in the path is not logged
    # The IM's own calls have access lines; a mediated exchange is in its message log instead (the trace).
    im_text = im.read_text()
    assert " /api/v1/" in im_text and " ms " in im_text, im_text
    assert "/r1/" not in im_text and message_id not in im_text, im_text
