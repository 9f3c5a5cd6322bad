#!/usr/bin/env python
"""Benchmark: one 100 000-instruction G2P batch through the Payments service, to fully settled and reported.

Starts the service (uvicorn, free port, temp SQLite data dir unless --database-url), registers the payees in
the account mapper over HTTP, submits one v3 `/batchtransactions` batch, polls `/api/v1/batch` until the
batch is settled and waits for its status callback. Prints the time, instructions/s and the peak RSS of the
service process (VmHWM).

    .venv/bin/python bench/g2p_batch.py [--count 100000] [--database-url postgresql+psycopg://...]
"""

from __future__ import annotations

import argparse
import http.server
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
MOMO = "SBXMOMO0001"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class CallbackReceiver:
    def __init__(self):
        self.received = threading.Event()
        self.body: dict | None = None
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                outer.body = json.loads(self.rfile.read(length) or b"{}")
                outer.received.set()
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/g2p/status"


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def start_service(
    data_dir: Path, database_url: str | None, schema: str | None, callback_url: str
) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {
        **os.environ,
        "PAYMENTS_DATA_DIR": str(data_dir),
        "PAYMENTS_LOG_LEVEL": "WARNING",
        # The batch's own cost is measured here, called directly: the IM's checks are benchmarked in im_overhead.
        "PAYMENTS_REQUIRE_IM_ASSERTION": "false",
        "PAYMENTS_CALLBACK_ALLOW_LIST": json.dumps([callback_url]),
    }
    if database_url:
        env["PAYMENTS_DATABASE_URL"] = database_url
        if schema:
            env["PAYMENTS_DATABASE_SCHEMA"] = schema
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "services.payments.app:create_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise SystemExit("service did not start")


def payee(n: int) -> str:
    return f"BEN{n:010d}"


def register_payees(client: httpx.Client, url: str, count: int) -> None:
    for start in range(0, count, 10000):
        body = {
            "RequestID": f"r{start:011d}",
            "Beneficiaries": [
                {
                    "payeeIdentity": payee(n),
                    "PaymentModality": "01",
                    "FinancialAddress": f"+9998{n:08d}",
                    "bankingInstitutionCode": MOMO,
                }
                for n in range(start, min(count, start + 10000))
            ],
        }
        response = client.post(
            url + "/identityAccountMapper/beneficiary",
            json=body,
            headers={"X-Registering-Institution-ID": "BENCH", "X-Callback-URL": "http://127.0.0.1:9/x"},
        )
        response.raise_for_status()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--unknown-every", type=int, default=100, help="every Nth payee is not registered")
    parser.add_argument("--database-url")
    args = parser.parse_args()

    schema = (
        f"bench_{uuid.uuid4().hex[:8]}" if args.database_url and args.database_url.startswith("postgresql") else None
    )
    with tempfile.TemporaryDirectory() as tmp:
        receiver = CallbackReceiver()
        proc, url = start_service(Path(tmp), args.database_url, schema, receiver.url)
        try:
            client = httpx.Client(timeout=300)
            t = time.perf_counter()
            registered = [n for n in range(args.count) if n % args.unknown_every]
            register_payees(client, url, args.count)
            print(
                f"mapper: {args.count} payees registered in {time.perf_counter() - t:.1f} s "
                f"(service peak RSS so far {peak_rss_mb(proc.pid):.0f} MB)"
            )

            batch = [
                {
                    "requestId": f"I{n:012d}",
                    "creditParty": [
                        {"key": "functionalId", "value": payee(n if n % args.unknown_every else args.count + n)}
                    ],
                    "debitParty": [{"key": "programme", "value": "USCT"}],
                    "paymentMode": "mojaloop",
                    "amount": 10.5,
                    "currency": "USD",
                }
                for n in range(args.count)
            ]
            body = json.dumps(batch).encode()
            headers = {
                "Content-Type": "application/json",
                "X-CorrelationID": "bench-0001",
                "Platform-TenantId": "bench",
                "X-Registering-Institution-Id": "BENCH",
                "X-Callback-URL": receiver.url,
            }
            started = time.perf_counter()
            response = client.post(url + "/batchtransactions?type=raw", content=body, headers=headers)
            accepted = time.perf_counter() - started
            assert response.status_code == 202, response.text[:500]
            batch_id = response.json()["batchId"]
            while True:
                summary = client.get(url + "/api/v1/batch", params={"batchId": batch_id}).json()
                if summary["status"] in ("COMPLETED", "FAILED"):
                    break
                time.sleep(0.25)
            settled = time.perf_counter() - started
            if not receiver.received.wait(60):
                raise SystemExit("status callback never arrived")
            reported = time.perf_counter() - started
            assert receiver.body["completed"] == len(registered), receiver.body
            assert receiver.body["failed"] == args.count - len(registered), receiver.body
            print(
                f"batch of {args.count}: accepted (HTTP 202) in {accepted:.1f} s, settled in {settled:.1f} s, "
                f"reported (callback received) in {reported:.1f} s"
            )
            print(
                f"throughput: {args.count / reported:,.0f} instructions/s; completed {summary['completed']}, "
                f"failed {summary['failed']}, completed_amount {summary['completed_amount']}"
            )
            print(f"peak RSS of the service process: {peak_rss_mb(proc.pid):.0f} MB")
            print(
                f"database: {'PostgreSQL' if schema else 'SQLite (temp dir)'}; target <= 60 s: "
                f"{'MET' if reported <= 60 else 'MISSED'}"
            )
        finally:
            proc.terminate()
            proc.wait(timeout=30)
            receiver.server.shutdown()
            if schema:
                from sqlalchemy import create_engine, text

                engine = create_engine(args.database_url)
                with engine.begin() as conn:
                    conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))


if __name__ == "__main__":
    main()
