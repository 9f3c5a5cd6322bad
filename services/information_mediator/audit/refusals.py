"""Refused administrative calls, counted in memory per source address and action and written to the audit
log as one entry per source and action per period ("N refused ... calls from X in the last T s"), by a
thread of their own: a flood of unauthenticated calls neither grows the log nor waits on the database.
A source refused more than a threshold of times in one second is answered 429 until the next second."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from services.common.database import Database

from .models import AuditEntry

log = logging.getLogger(__name__)

MAX_SOURCES = 10_000  # sources tracked at once; beyond, refusals are counted under OTHERS
OTHERS = "(other addresses)"
MAX_PATH = 200  # characters of the claimed path and query kept in the entry


@dataclass
class _Tally:
    started: float  # wall-clock seconds of the first refusal counted
    count: int = 0
    limited: int = 0  # of which answered 429
    last_path: str = ""


class RefusedAdminCalls:
    def __init__(self, db: Database, period: float, per_second: int):
        self.db, self.period, self.per_second = db, period, per_second
        self._lock = threading.Lock()
        self._tallies: dict[tuple[str, str], _Tally] = {}
        self._second = 0
        self._this_second: dict[str, int] = {}  # refusals per source in the current second
        self._wake = threading.Event()
        self._writer: threading.Thread | None = None

    def refuse(self, source: str, action: str, path: str) -> bool:
        """Counts one refused call; True when the source is over its rate (answer 429)."""
        now = time.time()
        with self._lock:
            second = int(now)
            if second != self._second:
                self._second, self._this_second = second, {}
            if source not in self._this_second and len(self._this_second) >= MAX_SOURCES:
                source = OTHERS
            calls = self._this_second[source] = self._this_second.get(source, 0) + 1
            limited = calls > self.per_second
            key = (source, action)
            if key not in self._tallies and len(self._tallies) >= MAX_SOURCES:
                key = (OTHERS, action)
            tally = self._tallies.setdefault(key, _Tally(now))
            tally.count += 1
            tally.limited += limited
            tally.last_path = path[:MAX_PATH]
            self._start_writer()
        return limited

    def flush(self) -> None:
        """Writes every tally now (before the audit log is read, and at shutdown)."""
        with self._lock:
            tallies, self._tallies = self._tallies, {}
        self._write(tallies)

    def close(self) -> None:
        self.flush()
        self._wake.set()

    def _start_writer(self) -> None:
        if self._writer is None or not self._writer.is_alive():
            self._wake.clear()
            self._writer = threading.Thread(target=self._run, name="admin-refusals", daemon=True)
            self._writer.start()

    def _run(self) -> None:
        """Writes the tallies whose period is over; ends when none is left (the next refusal restarts it)."""
        while not self._wake.wait(min(self.period, 1.0)):
            cutoff = time.time() - self.period
            with self._lock:
                due = {k: t for k, t in self._tallies.items() if t.started <= cutoff}
                for key in due:
                    del self._tallies[key]
                idle = not self._tallies
                if idle:
                    self._writer = None
            self._write(due)
            if idle:
                return

    def _write(self, tallies: dict[tuple[str, str], _Tally]) -> None:
        if not tallies:
            return
        now = time.time()
        try:
            with self.db.session() as session:
                session.add_all(_entry(source, action, tally, now) for (source, action), tally in tallies.items())
        except Exception:  # the counts are lost, the IM goes on
            log.warning("could not write %d refused-call audit entries", len(tallies), exc_info=True)


def _entry(source: str, action: str, tally: _Tally, now: float) -> AuditEntry:
    limited = f" ({tally.limited} answered 429)" if tally.limited else ""
    return AuditEntry(
        at=datetime.fromtimestamp(now, UTC),
        actor="anonymous",
        action=action,
        outcome="refused",
        status=401,
        detail=(
            f"{tally.count} refused {action} calls from {source} in the last {max(now - tally.started, 0):.0f} s"
            f"{limited}; last path {tally.last_path}"
        ),
    )
