"""Consent verification throughput (ARCHITECTURE §8 target: ≥ 1500 checks/s on 2 cores).

Starts the Consent service with uvicorn on a free port over a temporary data dir (SQLite, or PostgreSQL
with --database-url), seeds N individuals with consent records (every third one withdrawn), then measures
checks per second for single verifications (one individual per request, 32 connections) and bulk ones
(--bulk individuals per request, 4 connections), with the CPU time the service's processes spent per check
(from /proc: comparable on a shared, loaded machine where checks/s is not) and the load average. Every
check is also written to the verification log, as in production. The load comes from `wrk` (C, with a Lua
script picking random individuals) when it is installed, since a Python client saturates long before the
service; otherwise from httpx (then the figures are bounded by the client, and say so). Answers are checked
for correctness in a separate pass.

    .venv/bin/python bench/consent_verify.py [--individuals 2000] [--seconds 8] [--bulk 100]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from services.common.database import Database  # noqa: E402
from services.consent.app import MIGRATIONS  # noqa: E402
from services.consent.individuals.models import Individual  # noqa: E402
from services.consent.records import service as records  # noqa: E402
from services.consent.seed import USCT_AGREEMENT, seed  # noqa: E402
from services.consent.settings import ConsentSettings  # noqa: E402
from services.consent.signatures.service import Signer  # noqa: E402

URL = "/service/verification/consent-records/"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# The service is measured alone, without the IM in front: the operator's credential authorises the calls.
OPERATOR = {"Authorization": "Bearer bench-operator-token"}


def prepare(settings: ConsentSettings, count: int) -> list[str]:
    db = Database(*settings.resolved_database())
    db.migrate(MIGRATIONS)
    with db.session() as session:
        seed(session, Signer(settings.keys_dir), settings)
    ids = []
    with db.session() as session:
        for i in range(count):
            person = Individual(external_id=f"bench-{i}", external_id_type="bench")
            session.add(person)
            session.flush()
            records.create(session, USCT_AGREEMENT, person.id, None, i % 3 != 0, "bench")
            ids.append(person.id)
    if not db.is_sqlite:
        # Autovacuum would gather statistics on the new rows within a minute; without them PostgreSQL plans
        # the lookup as if the agreement had 3 records and scans all of them for every check.
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("ANALYZE")
    db.dispose()
    return ids


async def run_for(seconds: float, concurrency: int, make_request) -> tuple[int, int, list[float]]:
    """Issue requests from `concurrency` workers for `seconds`; return (requests, checks, latencies)."""
    deadline = time.perf_counter() + seconds
    latencies: list[float] = []
    totals = {"requests": 0, "checks": 0}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30, headers=OPERATOR) as client:

        async def worker() -> None:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                checks = await make_request(client)
                latencies.append(time.perf_counter() - started)
                totals["requests"] += 1
                totals["checks"] += checks

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return totals["requests"], totals["checks"], latencies


def service_cpu_seconds(pid: int) -> float:
    """User + system CPU of the service: the uvicorn process and its workers (0 where /proc is missing)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime (fields 14, 15 of stat)
        pending += [int(c) for c in children]
    return total


def cost(cpu_seconds: float, checks: int) -> str:
    """CPU per check and the load average, printed with every figure."""
    per_check = f"{cpu_seconds / checks * 1e6:6.0f} µs CPU/check" if checks else "no checks"
    return f"{per_check}  load {' '.join(f'{x:.2f}' for x in os.getloadavg())}"


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))] * 1000 if ordered else 0.0


async def measure(
    base: str, ids: list[str], seconds: float, bulk: int, expected: dict[str, bool], server_pid: int
) -> None:
    async def single(client: httpx.AsyncClient) -> int:
        person = random.choice(ids)
        r = await client.get(base + URL, params={"dataAgreementId": USCT_AGREEMENT, "individualId": person})
        r.raise_for_status()
        assert r.json()["verifications"][0]["consent"] is expected[person]
        return 1

    async def many(client: httpx.AsyncClient) -> int:
        people = random.sample(ids, bulk)
        r = await client.post(base + URL, json={"dataAgreementId": USCT_AGREEMENT, "individualIds": people})
        r.raise_for_status()
        answers = r.json()["verifications"]
        assert all(a["consent"] is expected[a["individualId"]] for a in answers) and len(answers) == bulk
        return bulk

    await run_for(1.0, 8, single)  # warm-up
    for name, fn, concurrency in (("single", single, 32), (f"bulk x{bulk}", many, 4)):
        started, cpu = time.perf_counter(), service_cpu_seconds(server_pid)
        requests, checks, latencies = await run_for(seconds, concurrency, fn)
        elapsed, cpu = time.perf_counter() - started, service_cpu_seconds(server_pid) - cpu
        print(
            f"{name:>10}: {checks / elapsed:8.0f} checks/s  {requests / elapsed:7.0f} req/s  "
            f"p50 {pct(latencies, 0.5):6.1f} ms  p99 {pct(latencies, 0.99):6.1f} ms  "
            f"(concurrency {concurrency}, {requests} requests in {elapsed:.1f} s)  {cost(cpu, checks)}"
        )


WRK_SINGLE = """
local ids = {%s}
math.randomseed(os.time())
request = function()
  return wrk.format("GET", "%s?dataAgreementId=%s&individualId=" .. ids[math.random(#ids)],
                    {["Authorization"] = "Bearer bench-operator-token"})
end
"""

WRK_BULK = """
local ids = {%s}
local n = %d
math.randomseed(os.time())
request = function()
  local picked = {}
  for i = 1, n do picked[i] = '"' .. ids[math.random(#ids)] .. '"' end
  local body = '{"dataAgreementId": "%s", "individualIds": [' .. table.concat(picked, ",") .. ']}'
  local headers = {["Content-Type"] = "application/json", ["Authorization"] = "Bearer bench-operator-token"}
  return wrk.format("POST", "%s", headers, body)
end
"""


def run_wrk(base: str, ids: list[str], seconds: float, bulk: int, tmp: str, server_pid: int) -> None:
    quoted = ",".join(f'"{i}"' for i in ids)
    for name, script, connections, per_request in (
        ("single", WRK_SINGLE % (quoted, URL, USCT_AGREEMENT), 32, 1),
        (f"bulk x{bulk}", WRK_BULK % (quoted, bulk, USCT_AGREEMENT, URL), 4, bulk),
    ):
        path = Path(tmp) / "script.lua"
        path.write_text(script)
        # A 2 s warm-up first (as in the httpx path): the service's first burst opens its database connections.
        subprocess.run(
            ["wrk", "-t2", f"-c{connections}", "-d2s", "-s", str(path), base], capture_output=True, check=True
        )
        cpu = service_cpu_seconds(server_pid)
        out = subprocess.run(
            ["wrk", "-t2", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency", "-s", str(path), base],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        cpu = service_cpu_seconds(server_pid) - cpu
        requests = int(re.search(r"(\d+) requests in", out).group(1))
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
        errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        latency = out.split("Latency Distribution", 1)[-1]
        p50 = re.search(r"\s50%\s+(\S+)", latency).group(1)
        p99 = re.search(r"\s99%\s+(\S+)", latency).group(1)
        print(
            f"{name:>10}: {rps * per_request:8.0f} checks/s  {rps:7.0f} req/s  p50 {p50:>8}  p99 {p99:>8}  "
            f"(wrk, {connections} connections{', ' + errors.group(1) + ' errors' if errors else ''})  "
            f"{cost(cpu, requests * per_request)}"
        )


def check_answers(base: str, ids: list[str], expected: dict[str, bool], bulk: int) -> None:
    sample = random.sample(ids, min(bulk, len(ids)))
    r = httpx.post(
        base + URL, json={"dataAgreementId": USCT_AGREEMENT, "individualIds": sample}, timeout=30, headers=OPERATOR
    )
    r.raise_for_status()
    assert all(a["consent"] is expected[a["individualId"]] for a in r.json()["verifications"])
    single = httpx.get(
        base + URL, params={"dataAgreementId": USCT_AGREEMENT, "individualId": sample[0]}, headers=OPERATOR
    ).json()
    assert single["verifications"][0]["consent"] is expected[sample[0]]
    print(f"answers checked: {len(sample) + 1} verifications correct")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--individuals", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--bulk", type=int, default=100)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes (default 1, as deployed)")
    parser.add_argument("--python-client", action="store_true", help="use httpx even when wrk is installed")
    parser.add_argument(
        "--database-url",
        default=None,
        help="an EMPTY database, e.g. postgresql+psycopg://postgres@127.0.0.1/consent_bench",
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="consent-bench-") as tmp:
        port = free_port()
        env = {
            **os.environ,
            "CONSENT_DATA_DIR": tmp,
            "CONSENT_PORT": str(port),
            "CONSENT_LOG_LEVEL": "WARNING",
            "CONSENT_ADMIN_TOKEN": OPERATOR["Authorization"].removeprefix("Bearer "),
        }
        if args.database_url:
            env["CONSENT_DATABASE_URL"] = args.database_url
        settings = ConsentSettings(data_dir=Path(tmp), database_url=args.database_url)
        t0 = time.perf_counter()
        ids = prepare(settings, args.individuals)
        expected = {person: i % 3 != 0 for i, person in enumerate(ids)}
        print(f"seeded {len(ids)} individuals with consent records in {time.perf_counter() - t0:.1f} s")
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                "services.consent.app:create_app",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--log-level",
                "warning",
                "--no-access-log",
                "--no-proxy-headers",  # as `sandbox serve` runs it (the IM is the only proxy)
                "--no-server-header",
                "--workers",
                str(args.workers),
            ],
            cwd=ROOT,
            env=env,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            for _ in range(200):
                try:
                    if httpx.get(base + "/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.05)
            check_answers(base, ids, expected, args.bulk)
            if shutil.which("wrk") and not args.python_client:
                run_wrk(base, ids, args.seconds, args.bulk, tmp, server.pid)
            else:
                print("wrk not found: using httpx (figures bounded by the Python client)")
                asyncio.run(measure(base, ids, args.seconds, args.bulk, expected, server.pid))
        finally:
            server.terminate()
            server.wait(timeout=10)


if __name__ == "__main__":
    main()
