"""IM overhead: the same call made directly to a provider, through nginx, and through the Information Mediator.

    python bench/im_overhead.py [--duration 10] [--connections 50] [--rate 1000] [--database-url URL]
                                [--profile /tmp/im.svg [--profile-rate 250]] [--im-server granian]
                                [--im-workers N]

Starts a minimal provider, nginx (Debian `nginx-light`) as a plain reverse proxy to it and a real IM
(`sandbox serve information_mediator`: message log on, every check of the trust model active) as separate
processes on free ports, registers the provider in the IM, then

- drives all three with `wrk` (Debian `wrk`) at the same concurrency: throughput and p50/p99 of each, and the
  IM's throughput as a share of nginx's (goal, ARCHITECTURE §8: >= 35 %);
- with `--rate N` (0 to skip), offers each a fixed load of N req/s from an open-loop generator of its own (wrk
  has no fixed rate; latency counts from when a request was due, so a stalled server is not hidden by fewer
  requests): p50/p99/max of each and the p99 the IM adds over direct and over nginx (goal: <= 5 ms at 1 000).

`--profile FILE` samples the IM with py-spy (`pip install py-spy`) during its wrk run, where it holds the
interpreter (`.svg` flame graph, `.txt` collapsed stacks, `.json` speedscope). `--im-server granian` runs the
IM under granian instead of uvicorn (`pip install granian`). `--im-workers N` runs the IM as N worker processes
behind its port (INFORMATION_MEDIATOR_WORKERS); its CPU is then that of all of them.
Needs: `apt-get install -y nginx-light wrk`.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import httptools
import httpx
import uvloop

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sandbox.processes import child_pids  # noqa: E402
from services.common.im_client import hash_secret  # noqa: E402
from tests.support import free_port, fresh_database, wait_for_http  # noqa: E402

# Direct and nginx calls are served as they come; a mediated call carries the IM's assertion and is served
# only once it is verified as every sandbox provider does (services/common/guard.py).
PROVIDER = """
import gc, hashlib, os
from services.common.assertion import ASSERTION_HEADER, AssertionVerifier, Exchange, InvalidAssertion
from services.common.guard import target

VERIFIER = AssertionVerifier(os.environ["BENCH_IM_URL"])
SERVICE = "SANDBOX/GOV/BENCH-ORG/PROVIDER/data"
NAME = ASSERTION_HEADER.lower().encode()
EMPTY = hashlib.sha256(b"").hexdigest()
gc.freeze()  # as every sandbox service does once it has started (services/common/app.py)

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
# A plain reverse proxy with keep-alive to the provider, as nginx is usually deployed in front of an app.
NGINX = """
worker_processes auto;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/nginx-body;
    proxy_temp_path {tmp}/nginx-proxy;
    upstream provider {{ server 127.0.0.1:{provider_port}; keepalive 128; }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://provider;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}
}}
"""
CLIENT = "SANDBOX/GOV/BENCH-ORG/CLIENT"
SECRET = "bench-secret"
ADMIN = {"Authorization": "Bearer bench-admin"}
TARGET = "/items?page=1"
MEDIATED = "/r1/SANDBOX/GOV/BENCH-ORG/PROVIDER/data" + TARGET
CLIENT_HEADERS = {"Information-Mediator-Client": CLIENT, "Information-Mediator-Client-Secret": SECRET}


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time the processes have used so far (Linux /proc; child processes included)."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
    return total / os.sysconf("SC_CLK_TCK")


def main_thread_seconds(pids: list[int]) -> float:
    """CPU time of the processes' main threads alone (the IM's event loops; its other threads are the
    message-log writer, pub/sub's and the thread pool's)."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/task/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def run_wrk(url: str, duration: int, connections: int, headers: dict[str, str]) -> dict:
    args = ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency", url]
    for k, v in headers.items():
        args += ["-H", f"{k}: {v}"]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    lat = {m.group(1): _ms(m.group(2)) for m in re.finditer(r"^\s+(50|75|90|99)%\s+([\d.]+\w+)", out, re.M)}
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p50": lat["50"], "p99": lat["99"], "errors": int(errors.group(1)) if errors else 0}


def _ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(\w+)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]


class _Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection of the open-loop generator: one request at a time."""

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.done: asyncio.Future[int] | None = None
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def on_message_complete(self) -> None:
        if self.done is not None and not self.done.done():
            self.done.set_result(self.parser.get_status_code())

    def connection_lost(self, exc: Exception | None) -> None:
        if self.done is not None and not self.done.done():
            self.done.set_exception(ConnectionError("connection closed"))

    async def request(self, raw: bytes) -> int:
        self.done = asyncio.get_running_loop().create_future()
        self.transport.write(raw)
        return await self.done


async def _open_loop(port: int, raw: bytes, rate: int, duration: int, connections: int) -> dict:
    """Sends `rate` requests a second for `duration` seconds, each when it is due whatever came back before;
    a request waits for a free connection if all are busy, and that wait counts in its latency."""
    loop = asyncio.get_running_loop()
    idle: asyncio.Queue[_Connection] = asyncio.Queue()
    for _ in range(connections):
        _, conn = await loop.create_connection(_Connection, "127.0.0.1", port)
        idle.put_nowait(conn)
    latencies: list[float] = []
    errors = 0

    async def one(due: float) -> None:
        nonlocal errors
        conn = await idle.get()
        try:
            status = await conn.request(raw)
        except ConnectionError:
            errors += 1
            _, conn = await loop.create_connection(_Connection, "127.0.0.1", port)
        else:
            errors += status != 200
            latencies.append(time.perf_counter() - due)
        idle.put_nowait(conn)

    total, start, sent, tasks = rate * duration, time.perf_counter(), 0, []
    while sent < total:
        now = time.perf_counter()
        while sent < total and start + sent / rate <= now:
            tasks.append(asyncio.ensure_future(one(start + sent / rate)))
            sent += 1
        await asyncio.sleep(max(0.0, start + sent / rate - time.perf_counter()))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - start
    while not idle.empty():
        idle.get_nowait().transport.close()
    latencies.sort()
    at = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000  # noqa: E731
    return {"rps": len(latencies) / elapsed, "p50": at(0.50), "p99": at(0.99), "max": at(1.0), "errors": errors}


def run_rate(port: int, path: str, headers: dict[str, str], rate: int, duration: int) -> dict:
    lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", *(f"{k}: {v}" for k, v in headers.items())]
    raw = ("\r\n".join(lines) + "\r\n\r\n").encode()
    gc.disable()  # a collection of the generator's own objects would pause it and count as the server's latency
    try:
        return uvloop.run(_open_loop(port, raw, rate, duration, connections=64))
    finally:
        gc.enable()


def start_nginx(tmp: Path, provider_port: int) -> tuple[subprocess.Popen, int]:
    port = free_port()
    conf = tmp / "nginx.conf"
    conf.write_text(NGINX.format(tmp=tmp, provider_port=provider_port, port=port))
    proc = subprocess.Popen(["nginx", "-e", str(tmp / "nginx-error.log"), "-p", str(tmp), "-c", str(conf)])
    return proc, port


# The IM as `sandbox serve` builds it (its app inside the access log), for another server than uvicorn.
GRANIAN_APP = """
from services.common.logs import AccessLogMiddleware
from services.information_mediator.app import create_app

app = AccessLogMiddleware(create_app())
"""


def im_command(server: str, tmp: Path, port: int) -> list[str]:
    """How the IM is started: as `sandbox up` does (uvicorn), or under granian (`pip install granian`: not a
    dependency; to compare servers) with one worker and uvloop, as the sandbox runs uvicorn."""
    if server == "uvicorn":
        return [sys.executable, "-m", "sandbox.serve", "information_mediator"]
    (tmp / "im_granian.py").write_text(GRANIAN_APP)
    options = ["--interface", "asgi", "--loop", "uvloop", "--host", "127.0.0.1", "--port", str(port), "--no-log"]
    return [sys.executable, "-c", GRANIAN_MAIN.format(tmp=str(tmp)), *options, "im_granian:app"]


# granian's command line, with the bench's folder importable (for im_granian.py).
GRANIAN_MAIN = "import sys; sys.path.append({tmp!r}); from granian.cli import entrypoint; entrypoint()"


def configure_im(im_url: str, provider_url: str) -> None:
    service = {
        "id": "data",
        "serviceUrl": provider_url,
        "specUrl": provider_url + "/",
        "rights": [{"member": "BENCH-ORG", "application": "CLIENT"}],
    }
    applications = [{"id": "CLIENT", "secretHash": hash_secret(SECRET)}, {"id": "PROVIDER", "services": [service]}]
    conf = {
        "domain": "bench",
        "instance": "SANDBOX",
        "members": [{"name": "Bench", "class": "GOV", "code": "BENCH-ORG", "applications": applications}],
    }
    httpx.put(im_url + "/api/v1/config", json=conf, headers=ADMIN).raise_for_status()


def profiled(pid: int, path: str | None, duration: int, rate: int) -> subprocess.Popen | None:
    if not path:
        return None
    fmt = {".svg": "flamegraph", ".txt": "raw", ".json": "speedscope"}[Path(path).suffix]
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    args = [py_spy, "record", "--pid", str(pid), "-d", str(duration), "-r", str(rate), "-f", fmt, "-o", path]
    args += ["--nonblocking", "--gil"]  # where the IM holds the interpreter: its CPU, not its waits
    return subprocess.Popen(args, stdout=subprocess.DEVNULL)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--rate", type=int, default=1000, help="fixed offered load in req/s (0: skip)")
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--profile", default=None, help="py-spy output of the IM's wrk run (.svg, .txt, .json)")
    parser.add_argument("--profile-rate", type=int, default=250, help="py-spy samples per second (default 250)")
    parser.add_argument("--im-server", choices=["uvicorn", "granian"], default="uvicorn", help="the IM's HTTP server")
    parser.add_argument("--im-workers", type=int, default=1, help="IM worker processes behind its port (default 1)")
    args = parser.parse_args()
    for tool in ("wrk", "nginx"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is needed: apt-get install -y nginx-light wrk")
    tmp = Path(tempfile.mkdtemp(prefix="im-bench-"))
    (tmp / "provider.py").write_text(PROVIDER)
    p_port, im_port = free_port(), free_port()
    python_path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env = dict(os.environ, PYTHONPATH=python_path, BENCH_IM_URL=f"http://127.0.0.1:{im_port}")
    im_env = dict(
        env,
        INFORMATION_MEDIATOR_PORT=str(im_port),
        INFORMATION_MEDIATOR_DATA_DIR=str(tmp / "im"),
        INFORMATION_MEDIATOR_ADMIN_TOKEN="bench-admin",
        INFORMATION_MEDIATOR_WORKERS=str(args.im_workers),
    )
    provider_cmd = [sys.executable, "-m", "uvicorn", "provider:app", "--port", str(p_port), "--log-level", "warning"]
    im_log = (tmp / "im.log").open("w")  # one access line per request: kept, as in production, but not shown
    with ExitStack() as running:
        # An empty log for each run (on a server: a schema of the run's own, dropped afterwards), so that runs
        # compare alike.
        database = running.enter_context(fresh_database(tmp, "im_bench", args.database_url))
        im_env["INFORMATION_MEDIATOR_DATABASE_URL"] = database["database_url"]
        if database["database_schema"]:
            im_env["INFORMATION_MEDIATOR_DATABASE_SCHEMA"] = database["database_schema"]
        provider = subprocess.Popen([*provider_cmd, "--no-access-log"], cwd=tmp, env=env)
        running.callback(_stop, provider)
        nginx, nginx_port = start_nginx(tmp, p_port)
        running.callback(_stop, nginx)
        im = subprocess.Popen(im_command(args.im_server, tmp, im_port), env=im_env, cwd=ROOT, stderr=im_log)
        running.callback(_stop, im)
        provider_url, im_url = f"http://127.0.0.1:{p_port}", f"http://127.0.0.1:{im_port}"
        wait_for_http(provider_url + "/", provider)
        wait_for_http(f"http://127.0.0.1:{nginx_port}/", nginx)
        wait_for_http(im_url + "/health", im)
        configure_im(im_url, provider_url)
        assert httpx.get(im_url + MEDIATED, headers=CLIENT_HEADERS).status_code == 200
        # With several workers, or under granian, the app runs in child processes, each with its event loop.
        app_pids = child_pids(im.pid) or [im.pid]
        im_pids = sorted({im.pid, *app_pids})
        # Each target, and the processes whose CPU time it costs (the machine may be shared: CPU per request
        # is the steadier figure).
        targets = {
            "direct": (p_port, TARGET, {}, [provider.pid]),
            "nginx": (nginx_port, TARGET, {}, [provider.pid, nginx.pid, *child_pids(nginx.pid)]),
            "IM": (im_port, MEDIATED, CLIENT_HEADERS, [provider.pid, *im_pids]),
        }
        closed, fixed = {}, {}
        for name, (port, path, headers, pids) in targets.items():
            url = f"http://127.0.0.1:{port}{path}"
            run_wrk(url, 2, args.connections, headers)  # warm-up
            sampler = profiled(app_pids[0], args.profile, args.duration, args.profile_rate) if name == "IM" else None
            cpu, im_cpu, loop_cpu = cpu_seconds(pids), cpu_seconds(im_pids), main_thread_seconds(app_pids)
            closed[name] = run_wrk(url, args.duration, args.connections, headers)
            served = closed[name]["rps"] * args.duration
            closed[name]["cpu_us"] = (cpu_seconds(pids) - cpu) / served * 1e6
            if name == "IM":
                closed[name]["im_cpu_us"] = (cpu_seconds(im_pids) - im_cpu) / served * 1e6
                closed[name]["loop_cpu_us"] = (main_thread_seconds(app_pids) - loop_cpu) / served * 1e6
            if sampler is not None:
                sampler.wait()
        if args.rate:
            for name, (port, path, headers, _) in targets.items():
                if closed[name]["rps"] < args.rate * 1.1:  # it could not keep up: latency would grow without end
                    fixed[name] = None
                    continue
                fixed[name] = run_rate(port, path, headers, args.rate, args.duration)
        time.sleep(1)
        logged = httpx.get(im_url + "/api/v1/monitoring", headers=ADMIN).json()["statistics"]
    report(args, closed, fixed, sum(s["requests"] for s in logged))


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    proc.wait(timeout=10)


def report(args: argparse.Namespace, closed: dict, fixed: dict, logged: int) -> None:
    database = "PostgreSQL" if args.database_url else "SQLite"
    print(f"wrk, {args.connections} connections, {args.duration} s each; message log on ({database}), provider")
    print(f"verifies every IM assertion; the IM runs on {args.im_server}, {args.im_workers} worker process(es)")
    for name, r in closed.items():
        print(
            f"  {name:7} {r['rps']:8.0f} req/s  p50 {r['p50']:7.2f} ms  p99 {r['p99']:7.2f} ms  errors {r['errors']}"
            f"  CPU {r['cpu_us']:5.0f} us/request (server side)"
        )
    im, nginx, direct = closed["IM"]["rps"], closed["nginx"]["rps"], closed["direct"]["rps"]
    print(
        f"  IM/nginx {im / nginx:.1%} (goal >= 35 %)   IM/direct {im / direct:.1%}   nginx/direct {nginx / direct:.1%}"
    )
    im_cpu, loop_cpu = closed["IM"]["im_cpu_us"], closed["IM"]["loop_cpu_us"]
    print(
        f"  the IM process alone: {im_cpu:.0f} us CPU per exchange ({loop_cpu:.0f} in its event loop, "
        f"{im_cpu - loop_cpu:.0f} in its other threads: the message-log writer, pub/sub, the thread pool"
        + (", granian's own)" if args.im_server == "granian" else ")")
    )
    if fixed:
        print(f"fixed rate {args.rate} req/s offered, open loop, {args.duration} s each")
        for name, r in fixed.items():
            if r is None:
                print(f"  {name:7} not offered: its throughput above is below {args.rate * 1.1:.0f} req/s")
                continue
            print(
                f"  {name:7} {r['rps']:8.0f} req/s  p50 {r['p50']:7.2f} ms  p99 {r['p99']:7.2f} ms  "
                f"max {r['max']:7.2f} ms  errors {r['errors']}"
            )
        if all(fixed.values()):
            added = fixed["IM"]["p99"] - fixed["direct"]["p99"]
            over_nginx = fixed["IM"]["p99"] - fixed["nginx"]["p99"]
            print(f"  p99 added by the IM: {added:.2f} ms over direct (goal <= 5 ms), {over_nginx:.2f} ms over nginx")
    print(f"exchanges in the message log: {logged}")


if __name__ == "__main__":
    main()
