"""Benchmark of the Identity token endpoint (ARCHITECTURE §8: >= 500 req/s) and of the full login flow.

    python bench/identity_token.py [--codes 2000] [--concurrency 32] [--workers 2]

Starts the Identity service with uvicorn on a free port (a subprocess, `--workers` processes, SQLite in a
temporary directory unless BENCH_DATABASE_URL is set), registers an OIDC client, then:

1. logs residents in through the real browser flow (authorize page, send OTP, authenticate, consent) at
   the given concurrency: that is the *login flow rate*, and each login leaves an authorization code;
2. exchanges every code at /oauth/token with a fresh private_key_jwt assertion: that is the *token rate*.
   The assertions are signed and the form bodies written beforehand, and `wrk` (Debian package `wrk`) sends
   each body once, so the load generator costs the two shared cores as little as possible. Every answer is
   checked (HTTP 200 carrying an id_token); failures are counted and reported.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from html import unescape
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
from joserfc import jwt
from joserfc.jwk import RSAKey

ROOT = Path(__file__).resolve().parents[1]
ADMIN = "bench-admin-token"
REDIRECT = "https://bench.example/callback"
VIDS = ["9038952310", "2405176278"]
# PKCE is required (S256): one verifier serves every login of the benchmark.
VERIFIER = "bench-pkce-verifier-" + "v" * 40
CHALLENGE = base64.urlsafe_b64encode(hashlib.sha256(VERIFIER.encode()).digest()).rstrip(b"=").decode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int, workers: int, data_dir: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "IDENTITY_DATA_DIR": str(data_dir),
        "IDENTITY_PORT": str(port),
        "IDENTITY_ADMIN_TOKEN": ADMIN,
        "IDENTITY_LOG_LEVEL": "WARNING",
        # codes made in the login phase must outlive it (the default 60 s is for real logins)
        "IDENTITY_AUTH_CODE_TTL_SECONDS": "3600",
        "IDENTITY_TRANSACTION_TTL_SECONDS": "3600",
        # every login of the benchmark is one client's: far past the per-client rate limit meant for real clients
        "IDENTITY_AUTH_RATE_LIMIT": "1000000",
    }
    env["IDENTITY_DATABASE_URL"] = os.environ.get("BENCH_DATABASE_URL", f"sqlite:///{data_dir / 'identity.db'}")
    # Migrate, seed and create the signing key once, so that the workers start on a ready database.
    subprocess.run(
        [
            sys.executable,
            "-W",
            "ignore",
            "-c",
            (
                "from fastapi.testclient import TestClient\n"
                "from services.identity.app import create_app\n"
                "with TestClient(create_app()) as c: assert c.get('/health').status_code == 200\n"
            ),
        ],
        cwd=ROOT,
        env=env,
        check=True,
    )
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "services.identity.app:create_app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        cwd=ROOT,
        env=env,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("identity service did not start")


def hidden(html: str, name: str) -> str:
    return unescape(re.search(rf'name="{name}" value="([^"]*)"', html).group(1))


async def login(base: str, client_id: str, index: int) -> str:
    """One resident login through the HTML pages; returns the authorization code."""
    async with httpx.AsyncClient(base_url=base, timeout=60) as browser:
        vid = VIDS[index % len(VIDS)]
        page = (
            await browser.get(
                "/authorize",
                params={
                    "client_id": client_id,
                    "redirect_uri": REDIRECT,
                    "response_type": "code",
                    "scope": "openid profile",
                    "state": f"s{index}",
                    "nonce": uuid.uuid4().hex,
                    "acr_values": "idbb:acr:generated-code",
                    "code_challenge": CHALLENGE,
                    "code_challenge_method": "S256",
                },
            )
        ).text
        form = {"transaction_id": hidden(page, "transaction_id"), "xsrf": hidden(page, "xsrf")}
        otp_page = (await browser.post("/authorize/send-otp", data={**form, "individual_id": vid})).text
        consent = (
            await browser.post(
                "/authorize/authenticate", data={**form, "individual_id": vid, "factor": "OTP", "challenge": "111111"}
            )
        ).text
        claims = re.findall(r'name="claims" value="([^"]+)"', consent)
        done = await browser.post("/authorize/consent", data={**form, "decision": "allow", "claims": claims})
        assert otp_page and done.status_code == 303, done.text
        return parse_qs(urlsplit(done.headers["location"]).query)["code"][0]


async def run_concurrently(jobs, concurrency: int):
    semaphore = asyncio.Semaphore(concurrency)
    latencies: list[float] = []

    async def one(job):
        async with semaphore:
            started = time.perf_counter()
            try:
                return await job()
            finally:
                latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    results = await asyncio.gather(*(one(j) for j in jobs), return_exceptions=True)
    return results, time.perf_counter() - started, latencies


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] * 1000 if len(values) > 1 else 0.0


async def bench(base: str, codes: int, concurrency: int) -> None:
    key = RSAKey.generate_key(2048, private=True, auto_kid=True)
    client_id = f"bench-{uuid.uuid4().hex[:8]}"
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        registered = await http.post(
            "/client-mgmt/oidc-client",
            headers={"Authorization": f"Bearer {ADMIN}"},
            json={
                "requestTime": "2026-01-01T00:00:00.000Z",
                "request": {
                    "clientId": client_id,
                    "clientName": "Bench",
                    "relyingPartyId": "bench",
                    "logoUri": "https://b.example/l.png",
                    "redirectUris": [REDIRECT],
                    "authContextRefs": ["idbb:acr:generated-code"],
                    "publicKey": key.as_dict(private=False),
                    "userClaims": ["name", "birthdate"],
                    "grantTypes": ["authorization_code"],
                    "clientAuthMethods": ["private_key_jwt"],
                },
            },
        )
        assert registered.json()["errors"] == [], registered.text
        token_endpoint = (await http.get("/.well-known/openid-configuration")).json()["token_endpoint"]

        results, elapsed, latencies = await run_concurrently(
            [lambda i=i: login(base, client_id, i) for i in range(codes)], concurrency
        )
        codes_ok = [r for r in results if isinstance(r, str)]
        if len(codes_ok) < codes:
            print(f"  failed logins, e.g. {[repr(r)[:160] for r in results if not isinstance(r, str)][:3]}")
        print(
            f"login flow (4 requests each): {len(codes_ok)}/{codes} ok in {elapsed:.1f} s -> "
            f"{len(codes_ok) / elapsed:.0f} logins/s ({4 * len(codes_ok) / elapsed:.0f} page req/s), "
            f"p50 {percentile(latencies, 50):.0f} ms, p99 {percentile(latencies, 99):.0f} ms"
        )

        now = int(time.time())
        assertions = [
            jwt.encode(
                {"alg": "RS256", "kid": key.kid},
                {
                    "iss": client_id,
                    "sub": client_id,
                    "aud": token_endpoint,
                    "iat": now,
                    "exp": now + 600,
                    "jti": uuid.uuid4().hex,
                },
                key,
            )
            for _ in codes_ok
        ]

        bodies = [
            urlencode(
                {
                    "grant_type": "authorization_code",
                    "code": code,
                    "client_id": client_id,
                    "redirect_uri": REDIRECT,
                    "code_verifier": VERIFIER,
                    "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                    "client_assertion": assertion,
                }
            )
            for code, assertion in zip(codes_ok, assertions, strict=True)
        ]
    ok, failed, elapsed = exchange_with_wrk(base, bodies, concurrency)
    rate = ok / elapsed
    print(
        f"token endpoint (private_key_jwt + RS256 ID and access tokens): {ok}/{len(bodies)} ok, {failed} failed, "
        f"in {elapsed:.2f} s -> {rate:.0f} req/s at concurrency {concurrency} (target >= 500 req/s)"
    )
    signs = rs256_signs_per_second(key)
    print(
        f"for scale: one core of this machine signs {signs:.0f} RS256 JWTs/s (the ID token's signature, which no "
        f"exchange can skip); the endpoint reaches {rate / (2 * signs):.0%} of what two cores could sign"
    )


def rs256_signs_per_second(key: RSAKey, seconds: float = 2.0) -> float:
    """How fast one core of this machine signs a JWT with RSA-2048: the yardstick for the token rate."""
    claims = {"iss": "https://bench.example", "sub": "x" * 43, "aud": "bench", "iat": 0, "exp": 600}
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key)
        count += 1
    return count / (time.perf_counter() - started)


# Each wrk thread sends its share of the bodies (one per line, thread k takes lines k, k+n, ...) once, checks
# every answer, and times itself from its first request to its last answer (wrk's own duration is the fixed -d;
# once its share is sent a thread idles on /health until then).
WRK_SCRIPT = """
local ffi = require("ffi")
ffi.cdef[[ typedef struct { long tv_sec; long tv_nsec; } timespec_t; int clock_gettime(int, timespec_t *); ]]
local clock = ffi.new("timespec_t")
local function now() ffi.C.clock_gettime(1, clock); return tonumber(clock.tv_sec) + tonumber(clock.tv_nsec) / 1e9 end
local threads, counter = {}, 0
function setup(thread)
  thread:set("id", counter); counter = counter + 1
  table.insert(threads, thread)
end
function init(args)
  bodies, sent, ok, failed = {}, 0, 0, 0
  local index = 0
  for line in io.lines(args[1]) do
    if index % tonumber(args[2]) == id then table.insert(bodies, line) end
    index = index + 1
  end
  verifying = (id == 0)  -- wrk calls thread 0's request() once before the run, to check what it returns
end
function request()
  if verifying then
    verifying = false
    return wrk.format("GET", "/health")
  end
  if sent == 0 then started = now() end
  sent = sent + 1
  if sent > #bodies then  -- all sent: idle on /health until the last answers are in
    return wrk.format("GET", "/health")
  end
  return wrk.format("POST", "/oauth/token", {["Content-Type"] = "application/x-www-form-urlencoded"}, bodies[sent])
end
function response(status, headers, body)
  if string.find(body, '"status"', 1, true) then return end  -- a /health answer is no result
  if status == 200 and string.find(body, '"id_token"', 1, true) then ok = ok + 1 else failed = failed + 1 end
  finished = now()
end
function done(summary, latency, requests)
  local total_ok, total_failed, first, last = 0, 0, math.huge, 0
  for _, thread in ipairs(threads) do
    total_ok = total_ok + thread:get("ok"); total_failed = total_failed + thread:get("failed")
    first = math.min(first, thread:get("started") or math.huge); last = math.max(last, thread:get("finished") or 0)
  end
  io.write(string.format("RESULT ok=%d failed=%d seconds=%.3f\\n", total_ok, total_failed, last - first))
end
"""


def exchange_with_wrk(base: str, bodies: list[str], concurrency: int, threads: int = 1) -> tuple[int, int, float]:
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "bodies.txt").write_text("\n".join(bodies) + "\n")
        Path(tmp, "exchange.lua").write_text(WRK_SCRIPT)
        deadline = max(10, len(bodies) // 50)  # seconds; wrk runs this long whatever happens
        out = subprocess.run(
            [
                "wrk",
                f"-t{threads}",
                f"-c{concurrency}",
                f"-d{deadline}s",
                "-s",
                str(Path(tmp, "exchange.lua")),
                base + "/oauth/token",
                "--",
                str(Path(tmp, "bodies.txt")),
                str(threads),
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    result = re.search(r"RESULT ok=(\d+) failed=(\d+) seconds=([\d.]+)", out)
    if result is None:
        raise SystemExit(f"wrk gave no result:\n{out}")
    lost = len(bodies) - int(result[1]) - int(result[2])
    if lost:
        print(f"  {lost} exchanges got no answer (socket errors or wrk's deadline)")
    return int(result[1]), int(result[2]), float(result[3])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--codes", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes (default 2 = cores)")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed for the token phase: apt-get install wrk")
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        server = start_server(port, args.workers, Path(tmp))
        try:
            print(
                f"identity service: {args.workers} uvicorn worker(s) on port {port}, "
                f"{os.environ.get('BENCH_DATABASE_URL', 'SQLite')}"
            )
            asyncio.run(bench(f"http://127.0.0.1:{port}", args.codes, args.concurrency))
        finally:
            server.terminate()
            server.wait(timeout=20)


if __name__ == "__main__":
    main()
