"""Replicas are correct: two processes of every service (each its own data directory, as separate containers)
on one PostgreSQL database behind round-robin fronts, bootstrapped once through the fronts, run both demos end
to end; then the message log verifies, each pub/sub event and each payment callback arrived once, each payment
was disbursed once, Identity's keys are the same on both replicas and a registry change made through one IM
replica reaches the other. Prints each replica's resident memory (README, "Deploying")."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from sandbox import topology
from tests.deploy.replicas import ReplicatedSandbox, replicated_sandbox
from tests.support import TEST_DATABASE_URL

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not TEST_DATABASE_URL,
        reason="replicas share one server database: PostgreSQL only (set TEST_DATABASE_URL); SQLite is one file "
        "per process and no replicated deployment runs on it",
    ),
]


def _cli(args: list[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sandbox.cli", *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def _query(sandbox: ReplicatedSandbox, name: str, sql: str) -> list:
    engine = create_engine(TEST_DATABASE_URL)
    try:
        with engine.connect() as conn:
            conn.execute(text(f'SET search_path TO "{sandbox.schema(name)}"'))
            return list(conn.execute(text(sql)))
    finally:
        engine.dispose()


def _requests(sandbox: ReplicatedSandbox, name: str, method: str, route: str) -> int:
    """How many times the replicas of `name` answered `method route` with a 2xx (their access logs)."""
    lines = (line for r in sandbox.replicas[name] for line in r.log_text().splitlines())
    return sum(1 for line in lines if f" {method} {route} 2" in line)


def _run_demos(sandbox: ReplicatedSandbox, root: Path) -> None:
    env = sandbox.bootstrap_env()
    nowhere = str(root / "no-sandbox-state")  # the demos are given every URL: nothing read from a data directory
    demos = [
        ["demo", "cash-transfer", "--data-dir", nowhere, "--url", sandbox.front("cash_transfer")],
        [
            "demo",
            "construction-permit",
            "--data-dir",
            nowhere,
            "--url",
            sandbox.front("construction_permit"),
            "--payments-url",
            sandbox.front("payments"),
        ],
    ]
    for args in demos:
        done = _cli(args, env, timeout=240)
        assert done.returncode == 0, f"{args[1]} failed:\n{done.stdout[-4000:]}\n{done.stderr[-2000:]}"


def test_two_replicas_of_every_service_run_both_demos_correctly(tmp_path):
    with replicated_sandbox(tmp_path) as sandbox:
        started = time.monotonic()
        done = _cli(["bootstrap", "--data-dir", str(sandbox.credentials)], sandbox.bootstrap_env())
        assert done.returncode == 0, done.stdout + done.stderr

        # Identity: one key set whichever replica publishes it (tokens signed by one verify at the other).
        jwks = [httpx.get(r.url + "/.well-known/jwks.json", timeout=10).json() for r in sandbox.replicas["identity"]]
        assert jwks[0] == jwks[1]
        # The IM: one signing key, so that providers verify assertions whichever replica signed them.
        im_keys = [
            httpx.get(r.url + "/.well-known/jwks.json", timeout=10).json()
            for r in sandbox.replicas["information_mediator"]
        ]
        assert im_keys[0] == im_keys[1]

        _run_demos(sandbox, tmp_path)

        _assert_message_log_verifies(sandbox)
        _assert_each_event_delivered_once(sandbox)
        _assert_each_payment_once(sandbox)
        _assert_registry_change_reaches_the_other_replica(sandbox)
        _assert_credentials_were_all_mounted(sandbox)

        print(f"\nbootstrap + both demos through the fronts: {time.monotonic() - started:.1f} s")
        for replica in sandbox.all_replicas():
            print(f"{replica.name}-{replica.index}: RSS {replica.rss_mb():.0f} MB, CPU {replica.cpu_seconds():.1f} s")


def _assert_message_log_verifies(sandbox: ReplicatedSandbox) -> None:
    im = sandbox.replicas[topology.IM][0]
    done = _cli(["im", "verify-log"], sandbox.env_of(im))
    assert done.returncode == 0, done.stdout + done.stderr
    nodes = _query(sandbox, topology.IM, "SELECT DISTINCT chain FROM im_message_log")
    assert len(nodes) == 2, f"both IM replicas carried exchanges: {nodes}"


def _assert_each_event_delivered_once(sandbox: ReplicatedSandbox) -> None:
    deliveries = _query(sandbox, topology.IM, "SELECT state, attempts FROM im_pubsub_delivery WHERE push")
    assert deliveries, "the permit demo publishes events to its room"
    assert all(state == "delivered" for state, _ in deliveries), deliveries
    received = _requests(sandbox, "construction_permit", "POST", "/callbacks/events")
    assert received == len(deliveries), f"{received} PUSH requests for {len(deliveries)} deliveries"


def _assert_each_payment_once(sandbox: ReplicatedSandbox) -> None:
    completed = _query(sandbox, "payments", "SELECT id, entry_id FROM instructions WHERE status = 'completed'")
    assert completed, "the cash-transfer demo pays its beneficiaries"
    entries = _query(sandbox, "payments", "SELECT id FROM journal_entries WHERE kind = 'g2p_credit'")
    assert sorted(e for _, e in completed) == sorted(e for (e,) in entries)
    batches = _query(sandbox, "payments", "SELECT count(*) FROM outbox WHERE kind = 'g2p.batch_status'")[0][0]
    assert batches >= 1
    assert _requests(sandbox, "cash_transfer", "POST", "/callbacks/bulk-payment") == batches


def _assert_registry_change_reaches_the_other_replica(sandbox: ReplicatedSandbox) -> None:
    first, second = sandbox.replicas[topology.IM]
    admin = {"Authorization": "Bearer " + (sandbox.credentials / "secrets" / "im-admin-token").read_text().strip()}
    one_call = {"endpoints": [{"method": "GET", "path": "/health"}]}  # a right as narrow as can be
    change = [
        {
            "memberClass": "GOV",
            "memberCode": "IDENTITY-AUTHORITY",
            "applicationId": "IDENTITY",
            "serviceId": "enrollment",
            "rights": [{"memberClass": "GOV", "memberCode": "SOCIAL-WELFARE", "applicationId": "USCT", **one_call}],
        }
    ]
    changed = httpx.patch(first.url + "/api/v1/rights/allow", json=change, headers=admin, timeout=10)
    assert changed.status_code == 200, changed.text
    version = httpx.get(first.url + "/api/v1/status", headers=admin, timeout=10).json()["configurationVersion"]
    deadline = time.monotonic() + 10
    while httpx.get(second.url + "/api/v1/status", headers=admin, timeout=10).json()["configurationVersion"] != version:
        assert time.monotonic() < deadline, "the other IM replica never saw the registry change"
        time.sleep(0.2)


def _assert_credentials_were_all_mounted(sandbox: ReplicatedSandbox) -> None:
    """No replica made a key or secret of its own: everything it signs or encrypts with came from its Secret."""
    for replica in sandbox.all_replicas():
        made = sorted(
            str(path.relative_to(replica.data_dir))
            for path in replica.data_dir.rglob("*")
            if path.is_file() and not path.name.startswith(".")
        )
        mounted = sorted(str(path) for path in _mounted(replica.name))
        assert made == mounted, f"{replica.name}-{replica.index} made its own: {set(made) - set(mounted)}"


def _mounted(name: str) -> list[Path]:
    from sandbox.bootstrap import service_files

    return service_files(name)
