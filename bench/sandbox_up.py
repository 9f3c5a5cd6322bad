"""`sandbox up`: time until every service is healthy and the topology registered, and idle RSS of the stack.

    python bench/sandbox_up.py [--runs 3]

Starts the real `sandbox up` on free ports with a fresh data directory (the first run includes key
generation, migrations and seeding; later runs reuse the data), waits for its state file, lets it idle
for 3 s, sums the RSS of the launcher and every service process, then stops it. Targets (ARCHITECTURE §8):
healthy ≤ 5 s, idle RSS ≤ 600 MB.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.launcher import RunningSandbox  # noqa: E402


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except FileNotFoundError:
        pass
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="sandbox-bench-")) / "var"
    for run in range(1, args.runs + 1):
        started = time.monotonic()
        sandbox = RunningSandbox(data_dir).start(timeout=120)
        elapsed = time.monotonic() - started
        if sandbox.proc.poll() is not None:
            raise SystemExit(sandbox.output.decode(errors="replace"))
        time.sleep(3)
        state = json.loads((data_dir / "sandbox.json").read_text())
        per = {name: rss_mb(p["pid"]) for name, p in state["processes"].items()}
        launcher = rss_mb(sandbox.proc.pid)
        total = sum(per.values()) + launcher
        sandbox.stop()
        label = "first start (keys, migrations, seeds)" if run == 1 else "restart with data"
        print(
            f"run {run} ({label}): healthy and registered in {elapsed:.2f} s; idle RSS {total:.0f} MB "
            f"({', '.join(f'{n} {v:.0f}' for n, v in per.items())}, launcher {launcher:.0f})"
        )


if __name__ == "__main__":
    main()
