"""IM publish/subscribe: publish N events (default 10 000) to a room with three PUSH subscribers.

    python bench/pubsub.py [--events 10000] [--concurrency 32] [--database-url URL] [--timeout 300]
                           [--profile FILE]

Starts a real IM (`sandbox serve information_mediator`) and one subscriber process serving three
subscriber applications' services, as separate processes on free ports. Registers the room, publisher and
subscribers, creates the event type, subscribes the three (PUSH), publishes the events concurrently, then
waits until every subscriber holds every event. Prints publish throughput, publish-to-delivery latency
p50/p99 (delivery time at the subscriber minus the `publishedAt` the IM stamped when it stored the event)
and how many (event, subscriber) pairs were lost (must be 0) or delivered twice, and the CPU time per event
of each process. `--profile FILE` samples the IM with py-spy and prints where its samples went.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import aiohttp
import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sandbox.processes import child_pids  # noqa: E402
from services.common.im_client import hash_secret  # noqa: E402
from tests.support import free_port, fresh_database, wait_for_http  # noqa: E402

SUBSCRIBER = """
import json, time
from datetime import datetime
seen = {}      # path -> set of event ids
latencies = []  # seconds
duplicates = 0

async def app(scope, receive, send):
    global duplicates
    if scope["type"] != "http":
        return
    if scope["method"] == "GET":
        lat = sorted(latencies)
        body = json.dumps({"counts": {p: len(s) for p, s in seen.items()}, "duplicates": duplicates,
                           "latencies": lat}).encode()
    else:
        chunks, more = [], True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        at = time.time()
        event = json.loads(b"".join(chunks))
        ids = seen.setdefault(scope["path"], set())
        if event["id"] in ids:
            duplicates += 1
        else:
            ids.add(event["id"])
            latencies.append(at - datetime.fromisoformat(event["publishedAt"]).timestamp())
        body = b"{}"
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})
"""
ADMIN = "bench-admin"
ROOM, PUB = "SANDBOX/GOV/BENCH-ORG/ROOM", "SANDBOX/GOV/BENCH-ORG/PUB"
SUBS = [f"SANDBOX/GOV/BENCH-ORG/SUB{i}" for i in (1, 2, 3)]
SECRET = "bench-secret"
SCHEMA = {"type": "object", "properties": {"n": {"type": "integer"}, "note": {"type": "string"}}, "required": ["n"]}


def conf(subscriber_url: str) -> dict:
    room_right = [{"member": "BENCH-ORG", "application": "ROOM"}]
    apps = [{"id": "ROOM", "secretHash": hash_secret(SECRET)}, {"id": "PUB", "secretHash": hash_secret(SECRET)}]
    apps += [
        {
            "id": s.split("/")[-1],
            "secretHash": hash_secret(SECRET),
            "services": [
                {
                    "id": "inbox",
                    "serviceUrl": f"{subscriber_url}/{s.split('/')[-1]}",
                    "specUrl": subscriber_url + "/",
                    "rights": room_right,
                }
            ],
        }
        for s in SUBS
    ]
    return {
        "domain": "bench",
        "instance": "SANDBOX",
        "members": [{"name": "Bench", "class": "GOV", "code": "BENCH-ORG", "applications": apps}],
    }


def headers(client: str) -> dict:
    return {"Information-Mediator-Client": client, "Information-Mediator-Client-Secret": SECRET}


def setup(im: str, subscriber_url: str) -> None:
    admin = {"Authorization": f"Bearer {ADMIN}"}
    http = httpx.Client(timeout=60)  # a busy machine answers slowly
    http.put(f"{im}/api/v1/config", json=conf(subscriber_url), headers=admin).raise_for_status()
    http.post(
        f"{im}/r1/{ROOM}/api/v1/eventType", json={"eventType": "tick", "schema": SCHEMA}, headers=headers(ROOM)
    ).raise_for_status()
    rights = [
        {
            "memberClass": "GOV",
            "memberCode": "BENCH-ORG",
            "applicationId": "ROOM",
            "serviceId": code,
            "rights": [{"memberCode": "BENCH-ORG", "applicationId": c.split("/")[-1]} for c in clients],
        }
        for code, clients in (("tick", [PUB]), ("tick.subscribe", SUBS))
    ]
    http.patch(f"{im}/api/v1/rights/allow", json=rights, headers=admin).raise_for_status()
    for s in SUBS:
        http.post(
            f"{im}/r1/{ROOM}/api/v1/subs/tick", json={"delivery": "PUSH", "serviceCode": "inbox"}, headers=headers(s)
        ).raise_for_status()


async def publish_all(im: str, events: int, concurrency: int) -> tuple[float, int]:
    """aiohttp rather than httpx here: the load generator shares the machine's cores with the IM."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(events):
        queue.put_nowait(n)
    failures = retries = 0

    async def worker(client: aiohttp.ClientSession) -> None:
        nonlocal failures, retries
        while not queue.empty():
            n = queue.get_nowait()
            # The publisher names the event id, so a retry after a broken connection cannot publish twice.
            body = {"eventType": "tick", "id": f"bench-{n}", "event": {"n": n, "note": "x" * 64}}
            for _ in range(5):
                try:
                    async with client.post(f"{im}/r1/{ROOM}/pub/v1/tick", json=body) as r:
                        await r.read()
                        status = r.status
                    break
                except (aiohttp.ClientError, OSError):
                    retries += 1
            else:
                failures += 1
                continue
            if status != 201:
                failures += 1

    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(headers=headers(PUB), connector=connector, timeout=timeout) as client:
        started = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    if retries:
        print(f"publisher retried {retries} requests after a transport error (same event id)")
    return elapsed, failures


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux): unlike wall time, not inflated by other load."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def profile(pid: int, output: str) -> subprocess.Popen:
    """py-spy (`pip install py-spy`) in raw (collapsed stacks) format: samples of the thread holding the GIL
    (where the IM's CPU goes), taken without pausing the process."""
    spy = str(Path(sys.executable).with_name("py-spy"))
    options = ["-f", "raw", "-r", "50", "--nonblocking", "--gil"]
    return subprocess.Popen([spy, "record", "-p", str(pid), "-o", output, *options])


# Where the IM's GIL samples go: the first activity with a frame in a stack takes the sample. (Sampling without
# pausing the IM, py-spy sometimes catches a coroutine's frames without the task that runs them: hence the
# inner frames in these lists.)
ACTIVITIES = [
    ("PUSH deliveries (request, assertion, log record)", ("DeliveryWorker._send", "DeliveryWorker._post", "Upstream")),
    ("outcome recording", ("DeliveryWorker._record ", "record_outcomes")),
    ("claims", ("DeliveryWorker._claim ",)),
    ("publication batches", ("PublishBatcher._run",)),
    ("message-log writer", ("MessageLogWriter._run",)),
    ("publish requests: size check and validation (thread)", ("_checked_publication",)),
    (
        "publish requests (uvicorn, middlewares, the publish path)",
        (
            "PublishPath",
            "publish_event",
            "RequestResponseCycle",
            "HttpToolsProtocol",
            "Middleware",
            "solve_dependencies",
            "get_request_handler",
            "views.py",
        ),
    ),
]


def profile_summary(path: str) -> None:
    """The share of the IM's samples per activity, from py-spy's collapsed stacks."""
    shares: dict[str, int] = {}
    total = 0
    for line in Path(path).read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        total += int(count)
        name = next(
            (name for name, frames in ACTIVITIES if any(f in stack for f in frames)),
            "other (event loop, thread hand-offs)",
        )
        shares[name] = shares.get(name, 0) + int(count)
    print(f"IM profile ({total} samples with the GIL held):")
    for name, count in sorted(shares.items(), key=lambda item: -item[1]):
        print(f"  {100 * count / max(total, 1):5.1f} %  {name}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--timeout", type=float, default=300)
    parser.add_argument("--profile", metavar="FILE", help="py-spy samples of the IM while it publishes and delivers")
    parser.add_argument("--im-workers", type=int, default=1, help="IM worker processes behind its port (default 1)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="pubsub-bench-"))
    (tmp / "subscriber.py").write_text(SUBSCRIBER)
    s_port, im_port = free_port(), free_port()
    subscriber = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "subscriber:app",
            "--port",
            str(s_port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        cwd=tmp,
    )
    env = dict(
        os.environ,
        INFORMATION_MEDIATOR_PORT=str(im_port),
        INFORMATION_MEDIATOR_DATA_DIR=str(tmp / "im"),
        INFORMATION_MEDIATOR_ADMIN_TOKEN=ADMIN,
        INFORMATION_MEDIATOR_WORKERS=str(args.im_workers),
        PYTHONPATH=str(ROOT),
    )
    database = ExitStack()  # an empty database for the run; on a server, a schema of its own, dropped afterwards
    fields = database.enter_context(fresh_database(tmp, "pubsub_bench", args.database_url))
    env["INFORMATION_MEDIATOR_DATABASE_URL"] = fields["database_url"]
    if fields["database_schema"]:
        env["INFORMATION_MEDIATOR_DATABASE_SCHEMA"] = fields["database_schema"]
    im_proc = subprocess.Popen([sys.executable, "-m", "sandbox.serve", "information_mediator"], env=env, cwd=ROOT)
    try:
        subscriber_url, im = f"http://127.0.0.1:{s_port}", f"http://127.0.0.1:{im_port}"
        wait_for_http(subscriber_url + "/", subscriber)
        wait_for_http(im + "/health", im_proc, timeout=120)  # a busy machine starts it slowly
        setup(im, subscriber_url)
        im_pids = [im_proc.pid, *child_pids(im_proc.pid)]  # with several workers: the parent and each worker
        profiler = profile(im_pids[-1], args.profile) if args.profile else None
        cpu_before = sum(map(cpu_seconds, im_pids)), cpu_seconds(subscriber.pid), time.process_time()
        load_before = os.getloadavg()[0]
        started = time.perf_counter()
        elapsed, failures = asyncio.run(publish_all(im, args.events, args.concurrency))
        expected = args.events - failures
        deadline = time.monotonic() + args.timeout
        while True:
            stats = httpx.get(subscriber_url + "/stats", timeout=30).json()
            if (
                all(stats["counts"].get(f"/{s.split('/')[-1]}", 0) >= expected for s in SUBS)
                or time.monotonic() > deadline
            ):
                break
            time.sleep(0.5)
        drained = time.perf_counter() - started
        cpu_after = sum(map(cpu_seconds, im_pids)), cpu_seconds(subscriber.pid), time.process_time()
        load_after = os.getloadavg()[0]
        if profiler:
            profiler.send_signal(signal.SIGINT)
            profiler.wait(timeout=60)
    finally:
        for proc in (im_proc, subscriber):
            proc.terminate()
            proc.wait(timeout=15)
        database.close()
    lat = stats["latencies"]
    received = sum(stats["counts"].values())
    lost = len(SUBS) * expected - received
    q = statistics.quantiles(lat, n=100) if len(lat) > 1 else [0] * 99
    print(
        f"{args.events} events, {len(SUBS)} PUSH subscribers, {args.concurrency} concurrent publishers "
        f"({'PostgreSQL' if args.database_url else 'SQLite'})"
    )
    print(f"publish: {args.events / elapsed:8.0f} events/s ({elapsed:.1f} s), refused {failures}")
    print(f"delivered {received} of {len(SUBS) * expected} in {drained:.1f} s ({received / drained:.0f} deliveries/s)")
    print(f"publish-to-delivery latency: p50 {q[49] * 1000:.0f} ms, p99 {q[98] * 1000:.0f} ms")
    print(f"lost: {lost}, duplicates: {stats['duplicates']}")
    im_cpu, sub_cpu, pub_cpu = (1000 * (a - b) / args.events for a, b in zip(cpu_after, cpu_before, strict=True))
    print(
        f"CPU per event: IM {im_cpu:.2f} ms, subscriber {sub_cpu:.2f} ms, publisher {pub_cpu:.2f} ms "
        f"(load average {load_before:.1f} -> {load_after:.1f} on {os.cpu_count()} cores); "
        f"the IM alone on one core would take {1000 / im_cpu:.0f} events/s"
    )
    if args.profile:
        profile_summary(args.profile)
    if lost or failures:
        sys.exit(1)


if __name__ == "__main__":
    main()
