"""`sandbox up`: time until every service is healthy and the topology registered, the CPU that took, and the
idle memory of the whole stack.

    python bench/sandbox_up.py [--runs 3]

Starts the real `sandbox up` on free ports with a fresh data directory (the first run includes key
generation, migrations and seeding; later runs reuse the data), waits for its state file, and reads every
process the launcher started, directly or through its fork server: the CPU seconds they used until then (steadier
than the wall time on a shared machine), also per process (launcher, fork server, each service); when each
service logged that it listens (the start-up timeline, from the services' logs); and after 3 s of idling their
memory. RSS counts the pages processes share once per process; PSS divides them among the processes that share
them, so its sum is the physical memory the stack takes. Targets (ARCHITECTURE §8): healthy ≤ 4 s from cold,
≤ 3 s on restart, idle ≤ 600 MB.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.launcher import RunningSandbox  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def descendants(root: int) -> list[int]:
    """`root` and every process below it."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                children.setdefault(int(_stat_fields(int(entry.name))[1]), []).append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    found, pending = [], [root]
    while pending:
        pid = pending.pop()
        found.append(pid)
        pending += children.get(pid, [])
    return found


def cpu_seconds(pid: int) -> float:
    try:
        fields = _stat_fields(pid)
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


def memory_mb(pid: int) -> tuple[float, float]:
    """(RSS, PSS) in MB."""
    values = {"Rss:": 0.0, "Pss:": 0.0}
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            key = line.split(":", 1)[0] + ":"
            if key in values:
                values[key] = int(line.split()[1]) / 1024
    except OSError:
        pass
    return values["Rss:"], values["Pss:"]


def process_name(pid: int, launcher: int) -> str:
    """launcher, fork server (and its resource tracker), or the service a forked process runs."""
    if pid == launcher:
        return "launcher"
    try:
        command = Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ")
    except OSError:
        return "?"
    if "sandbox.serve" in command:
        return command.split()[-1]
    return "resource tracker" if "resource_tracker" in command else "fork server"


def listening_at(log: Path, since: float) -> float | None:
    """Seconds from `since` (wall clock) to the service's last "listening on" log line."""
    lines = [line for line in log.read_text(errors="replace").splitlines() if " listening on http" in line]
    if not lines:
        return None
    stamp = time.mktime(time.strptime(lines[-1][:19], "%Y-%m-%d %H:%M:%S")) + int(lines[-1][20:23]) / 1000
    return stamp - since


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="sandbox-bench-")) / "var"
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    for run in range(1, args.runs + 1):
        started, wall_start = time.monotonic(), time.time()
        sandbox = RunningSandbox(data_dir).start(timeout=120)
        elapsed = time.monotonic() - started
        if sandbox.proc.poll() is not None:
            raise SystemExit(sandbox.output.decode(errors="replace"))
        processes = descendants(sandbox.proc.pid)
        by_process = {process_name(pid, sandbox.proc.pid): cpu_seconds(pid) for pid in processes}
        cpu = sum(by_process.values())
        time.sleep(3)
        memory = [memory_mb(pid) for pid in descendants(sandbox.proc.pid)]
        sandbox.stop()
        label = "first start (keys, migrations, seeds)" if run == 1 else "restart with data"
        print(
            f"run {run} ({label}): healthy and registered in {elapsed:.2f} s, {cpu:.2f} CPU-s in "
            f"{len(processes)} processes; idle RSS {sum(r for r, _ in memory):.0f} MB, "
            f"PSS {sum(p for _, p in memory):.0f} MB"
        )
        print("    CPU-s: " + ", ".join(f"{name} {c:.2f}" for name, c in by_process.items()))
        listening = {log.stem: listening_at(log, wall_start) for log in sorted((data_dir / "logs").glob("*.log"))}
        print("    listening after (s): " + ", ".join(f"{n} {t:.2f}" for n, t in listening.items() if t is not None))


if __name__ == "__main__":
    main()
