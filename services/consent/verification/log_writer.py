"""Verification log rows are queued in memory and bulk-inserted by one background thread every few tens of
milliseconds: checks never wait on a database write lock, and the auditor's read flushes the queue first.
A crash can lose at most the last interval's rows (documented in the README)."""

from __future__ import annotations

import logging
import queue
import threading

from sqlalchemy import insert

from services.common.database import Database
from services.consent.verification.models import VerificationLog

log = logging.getLogger(__name__)


class LogWriter:
    def __init__(self, db: Database, interval: float = 0.05):
        self.db = db
        self.interval = interval
        self._queue: queue.SimpleQueue[list[dict]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="consent-verification-log", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def submit(self, rows: list[dict]) -> None:
        self._queue.put(rows)

    def flush(self) -> int:
        """Write everything queued so far; returns the number of rows written."""
        with self._lock:
            rows: list[dict] = []
            while True:
                try:
                    rows.extend(self._queue.get_nowait())
                except queue.Empty:
                    break
            if rows:
                try:
                    with self.db.session() as session:
                        session.execute(insert(VerificationLog), rows)
                except Exception:
                    self._queue.put(rows)  # keep them for the next round
                    raise
            return len(rows)

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        self.flush()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.flush()
            except Exception:  # keep logging after a transient database error
                log.exception("writing the verification log failed")
