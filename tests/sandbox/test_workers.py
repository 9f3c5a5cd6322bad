"""`sandbox serve information_mediator` with INFORMATION_MEDIATOR_WORKERS=2: two worker processes behind one
port (sandbox/workers.py). Each keeps its own message-log chain, a registry change made through one holds at
once for every worker (the registry poll is set to an hour here, so only the shared version can do it),
`/metrics` counts every worker's exchanges, a worker that dies is started again, and SIGTERM stops them all."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from sandbox.processes import child_pids
from services.common.database import Database
from services.information_mediator.cli import verify_log
from services.information_mediator.settings import IMSettings
from tests.services.information_mediator.conftest import (
    ADMIN,
    CLIENT,
    CLIENT_SECRET,
    PROVIDER,
    conf,
    provider_app,
)
from tests.support import LiveServer, free_port, wait_for_http, wait_until

from .test_cli import ROOT

WORKERS = 2
CALL = {"Information-Mediator-Client": CLIENT, "Information-Mediator-Client-Secret": CLIENT_SECRET}


@pytest.fixture
def im_workers(db_fields, tmp_path):
    """Two IM workers on one port in front of the echo provider, configured through the admin API."""
    holder: dict = {}
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INFORMATION_MEDIATOR_", "DATABASE_URL"))}
    env |= {
        "PYTHONPATH": str(ROOT),
        "INFORMATION_MEDIATOR_PORT": str(port),
        "INFORMATION_MEDIATOR_WORKERS": str(WORKERS),
        "INFORMATION_MEDIATOR_DATA_DIR": str(tmp_path / "im"),
        "INFORMATION_MEDIATOR_ADMIN_TOKEN": ADMIN,
        "INFORMATION_MEDIATOR_DATABASE_URL": db_fields["database_url"],
        "INFORMATION_MEDIATOR_REGISTRY_POLL_SECONDS": "3600",
    }
    if db_fields["database_schema"]:
        env["INFORMATION_MEDIATOR_DATABASE_SCHEMA"] = db_fields["database_schema"]
    log = tmp_path / "im.log"
    with LiveServer(provider_app(holder)) as provider, open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "sandbox.serve", "information_mediator"], env=env, cwd=ROOT, stdout=out, stderr=out
        )
        url = f"http://127.0.0.1:{port}"
        holder["url"] = url
        try:
            wait_for_http(url + "/health", proc, timeout=60)
            assert wait_until(lambda: len(child_pids(proc.pid)) == WORKERS, timeout=20), log.read_text()
            assert wait_until(lambda: log.read_text().count("listening on") == WORKERS, timeout=30), log.read_text()
            admin = {"Authorization": f"Bearer {ADMIN}"}
            configured = httpx.put(
                url + "/api/v1/config", json=conf(provider.url, f"http://127.0.0.1:{free_port()}"), headers=admin
            )
            assert configured.status_code == 201, configured.text
            yield url, proc, IMSettings(**db_fields, data_dir=tmp_path / "im"), log
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def _calls(url: str, count: int, concurrency: int = 8) -> list[int]:
    """`count` mediated calls, each on a new connection, several at a time: the kernel hands them to both workers."""

    def one(_: int) -> int:
        with httpx.Client(timeout=30) as http:
            return http.get(f"{url}/r1/{PROVIDER}/echo/x", headers=CALL).status_code

    with ThreadPoolExecutor(concurrency) as pool:
        return list(pool.map(one, range(count)))


def _records_per_chain(settings: IMSettings) -> Counter:
    db = Database(*settings.resolved_database())
    try:
        with db.engine.connect() as connection:
            rows = connection.execute(text("SELECT chain, count(*) FROM im_message_log GROUP BY chain")).all()
    finally:
        db.dispose()
    return Counter({chain: count for chain, count in rows})


def _until_both_workers_served(url: str, settings: IMSettings) -> Counter:
    statuses: list[int] = []

    def both() -> bool:
        statuses.extend(_calls(url, 40))
        return len(_records_per_chain(settings)) == WORKERS

    assert wait_until(both, timeout=60, interval=0.1), _records_per_chain(settings)
    assert set(statuses) == {200}
    return _records_per_chain(settings)


def test_each_worker_serves_and_keeps_its_own_chain_of_the_message_log(im_workers):
    url, _, settings, log = im_workers
    chains = _until_both_workers_served(url, settings)
    assert set(chains) == {"im-1-w1", "im-1-w2"}
    ok, message = verify_log(settings)
    assert ok, message
    text_ = log.read_text()
    assert "worker 1 of 2" in text_ and "worker 2 of 2" in text_


def test_a_right_revoked_through_one_worker_is_refused_by_every_worker_at_once(im_workers):
    url, _, settings, _ = im_workers
    _until_both_workers_served(url, settings)  # both have loaded the registry with the right
    before = _records_per_chain(settings)
    denied = httpx.patch(
        url + "/api/v1/rights/deny",
        json=[
            {
                "memberClass": "GOV",
                "memberCode": "PROVIDER-ORG",
                "applicationId": "APP",
                "serviceId": "echo",
                "rights": [{"memberClass": "GOV", "memberCode": "CLIENT-ORG", "applicationId": "CLIENT"}],
            }
        ],
        headers={"Authorization": f"Bearer {ADMIN}"},
    )
    assert denied.status_code == 200, denied.text
    assert set(_calls(url, 60)) == {403}
    after = _records_per_chain(settings)
    assert all(after[chain] > before[chain] for chain in before), (before, after)  # both workers refused


def test_metrics_count_every_workers_exchanges(im_workers):
    url, _, settings, _ = im_workers
    chains = _until_both_workers_served(url, settings)
    served = chains.total()
    for _ in range(6):  # whichever worker answers the scrape
        with httpx.Client(timeout=10) as http:
            metrics = http.get(url + "/metrics", headers={"Authorization": f"Bearer {ADMIN}"}).text
        counted = sum(
            float(line.rsplit(" ", 1)[1])
            for line in metrics.splitlines()
            if line.startswith("im_requests_total{") and f'service="{PROVIDER}/echo"' in line
        )
        assert counted == served


def test_a_worker_that_dies_is_started_again_and_sigterm_stops_them_all(im_workers):
    url, proc, settings, log = im_workers
    first = child_pids(proc.pid)
    os.kill(first[0], signal.SIGKILL)
    assert wait_until(lambda: len(set(child_pids(proc.pid)) - set(first)) == 1, timeout=20), log.read_text()
    assert wait_until(lambda: log.read_text().count("listening on") == WORKERS + 1, timeout=30), log.read_text()
    assert set(_calls(url, 20)) == {200}
    workers = child_pids(proc.pid)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(Path(f"/proc/{pid}").exists() for pid in workers):
        time.sleep(0.05)
    assert not any(Path(f"/proc/{pid}").exists() for pid in workers)
