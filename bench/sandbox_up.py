"""`sandbox up`: time until every service is healthy and the topology registered, the CPU that took, and the
idle memory of the whole stack.

    python bench/sandbox_up.py [--runs 3]

Starts the real `sandbox up` on free ports with a fresh data directory (the first run includes key
generation, migrations and seeding; later runs reuse the data), waits for its state file, and reads every
process the launcher started, directly or through its fork server: the CPU seconds they used until then (steadier
than the wall time on a shared machine), and after 3 s of idling their memory. RSS counts the pages processes
share once per process; PSS divides them among the processes that share them, so its sum is the physical
memory the stack takes. Targets (ARCHITECTURE §8): healthy ≤ 4 s from cold, ≤ 3 s on restart, idle ≤ 600 MB.
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="sandbox-bench-")) / "var"
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    for run in range(1, args.runs + 1):
        started = time.monotonic()
        sandbox = RunningSandbox(data_dir).start(timeout=120)
        elapsed = time.monotonic() - started
        if sandbox.proc.poll() is not None:
            raise SystemExit(sandbox.output.decode(errors="replace"))
        processes = descendants(sandbox.proc.pid)
        cpu = sum(cpu_seconds(pid) for pid in processes)
        time.sleep(3)
        memory = [memory_mb(pid) for pid in descendants(sandbox.proc.pid)]
        sandbox.stop()
        label = "first start (keys, migrations, seeds)" if run == 1 else "restart with data"
        print(
            f"run {run} ({label}): healthy and registered in {elapsed:.2f} s, {cpu:.2f} CPU-s in "
            f"{len(processes)} processes; idle RSS {sum(r for r, _ in memory):.0f} MB, "
            f"PSS {sum(p for _, p in memory):.0f} MB"
        )


if __name__ == "__main__":
    main()
