"""IM overhead: the same call made directly to a provider and through the Information Mediator.

    python bench/im_overhead.py [--duration 10] [--connections 50] [--database-url URL]

Starts a minimal provider and a real IM (`sandbox serve information_mediator`, message log on) as separate
processes on free ports, registers the provider in the IM, then drives both with `wrk` (Debian package
`wrk`: `apt-get install wrk`) at the same concurrency, and prints throughput of each, their ratio, p50/p99
latency and the p99 latency the IM adds. Targets (ARCHITECTURE §8): ≥ 1000 mediated req/s, ≥ 50 % of direct,
p99 added ≤ 10 ms.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from services.common.im_client import hash_secret  # noqa: E402
from tests.support import free_port, wait_for_http  # noqa: E402

# Direct calls are served as they come (as nginx would); a mediated call carries the IM's assertion and is
# served only once it is verified as every sandbox provider does (services/common/guard.py).
PROVIDER = """
import hashlib, os
from services.common.assertion import ASSERTION_HEADER, AssertionVerifier, Exchange, InvalidAssertion
from services.common.guard import target

VERIFIER = AssertionVerifier(os.environ["BENCH_IM_URL"])
SERVICE = "SANDBOX/GOV/BENCH-ORG/PROVIDER/data"
NAME = ASSERTION_HEADER.lower().encode()
EMPTY = hashlib.sha256(b"").hexdigest()

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    token = next((v.decode() for k, v in scope["headers"] if k == NAME), None)
    if token is not None:
        try:
            VERIFIER.verify(token, Exchange("", SERVICE, scope["method"], target(scope), EMPTY))
        except InvalidAssertion:
            await send({"type": "http.response.start", "status": 401, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
    body = b'{"status": "ok", "items": [1, 2, 3]}'
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
"""
CLIENT = "SANDBOX/GOV/BENCH-ORG/CLIENT"
SECRET = "bench-secret"


def run_wrk(url: str, duration: int, connections: int, headers: dict[str, str]) -> dict:
    args = ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency", url]
    for k, v in headers.items():
        args += ["-H", f"{k}: {v}"]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    lat = {m.group(1): _ms(m.group(2)) for m in re.finditer(r"^\s+(50|75|90|99)%\s+([\d.]+\w+)", out, re.M)}
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p50": lat["50"], "p99": lat["99"], "non2xx": int(errors.group(1)) if errors else 0}


def _ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(\w+)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed: apt-get install wrk")
    tmp = Path(tempfile.mkdtemp(prefix="im-bench-"))
    (tmp / "provider.py").write_text(PROVIDER)
    p_port, im_port = free_port(), free_port()
    provider_env = dict(os.environ, PYTHONPATH=str(ROOT), BENCH_IM_URL=f"http://127.0.0.1:{im_port}")
    provider = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "provider:app",
            "--port",
            str(p_port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        cwd=tmp,
        env=provider_env,
    )
    env = dict(
        os.environ,
        INFORMATION_MEDIATOR_PORT=str(im_port),
        INFORMATION_MEDIATOR_DATA_DIR=str(tmp / "im"),
        INFORMATION_MEDIATOR_ADMIN_TOKEN="bench-admin",
        PYTHONPATH=str(ROOT),
    )
    if args.database_url:
        env["INFORMATION_MEDIATOR_DATABASE_URL"] = args.database_url
    im = subprocess.Popen([sys.executable, "-m", "sandbox.serve", "information_mediator"], env=env, cwd=ROOT)
    try:
        provider_url, im_url = f"http://127.0.0.1:{p_port}", f"http://127.0.0.1:{im_port}"
        wait_for_http(provider_url + "/", provider)
        wait_for_http(im_url + "/health", im)
        conf = {
            "domain": "bench",
            "instance": "SANDBOX",
            "members": [
                {
                    "name": "Bench",
                    "class": "GOV",
                    "code": "BENCH-ORG",
                    "applications": [
                        {"id": "CLIENT", "secretHash": hash_secret(SECRET)},
                        {
                            "id": "PROVIDER",
                            "services": [
                                {
                                    "id": "data",
                                    "serviceUrl": provider_url,
                                    "specUrl": provider_url + "/",
                                    "rights": [{"member": "BENCH-ORG", "application": "CLIENT"}],
                                }
                            ],
                        },
                    ],
                }
            ],
        }
        r = httpx.put(im_url + "/api/v1/config", json=conf, headers={"Authorization": "Bearer bench-admin"})
        r.raise_for_status()
        mediated_url = f"{im_url}/r1/SANDBOX/GOV/BENCH-ORG/PROVIDER/data/items?page=1"
        headers = {"Information-Mediator-Client": CLIENT, "Information-Mediator-Client-Secret": SECRET}
        assert httpx.get(mediated_url, headers=headers).status_code == 200
        run_wrk(provider_url + "/items?page=1", 2, args.connections, {})  # warm-up
        run_wrk(mediated_url, 2, args.connections, headers)
        direct = run_wrk(provider_url + "/items?page=1", args.duration, args.connections, {})
        mediated = run_wrk(mediated_url, args.duration, args.connections, headers)
        time.sleep(1)
        logged = httpx.get(im_url + "/api/v1/monitoring", headers={"Authorization": "Bearer bench-admin"}).json()[
            "statistics"
        ]
    finally:
        for proc in (im, provider):
            proc.terminate()
            proc.wait(timeout=10)
    print(
        f"concurrency {args.connections}, {args.duration} s each, message log on, provider verifies assertions "
        f"({'PostgreSQL' if args.database_url else 'SQLite'})"
    )
    print(f"direct:   {direct['rps']:8.0f} req/s  p50 {direct['p50']:6.2f} ms  p99 {direct['p99']:6.2f} ms")
    print(
        f"mediated: {mediated['rps']:8.0f} req/s  p50 {mediated['p50']:6.2f} ms  p99 {mediated['p99']:6.2f} ms"
        f"  non-2xx {mediated['non2xx']}"
    )
    print(f"ratio mediated/direct: {mediated['rps'] / direct['rps']:.1%}")
    print(f"p99 added by the IM: {mediated['p99'] - direct['p99']:.2f} ms")
    print(f"exchanges in the message log: {sum(s['requests'] for s in logged)}")


if __name__ == "__main__":
    main()
