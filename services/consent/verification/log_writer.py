"""The verification log: one thread bulk-inserts the rows of the checks as a group commit, taking whatever was
queued while the previous transaction committed, so that concurrent checks share one transaction and none
waits on a timer. A check waits (`store`) until its rows are committed: an answered check is in the durable
log. Rows are fitted to their columns before they are queued; should a batch still fail, each check's rows
are stored on their own so that only the bad check is refused."""

from __future__ import annotations

import logging
import queue
import threading
from concurrent.futures import Future

from sqlalchemy import String
from sqlalchemy.exc import InterfaceError, OperationalError

from services.common.database import Database
from services.consent.verification.models import VerificationLog

log = logging.getLogger(__name__)

BATCH_ROWS = 5000
TABLE = VerificationLog.__table__
LENGTHS = {c.key: c.type.length for c in TABLE.columns if isinstance(c.type, String)}
# One check's rows and who waits for them (None: nobody).
Item = tuple[list[dict], Future | None]


class LogWriteError(RuntimeError):
    """The rows could not be stored in the verification log."""


class LogWriter:
    def __init__(self, db: Database, store_timeout: float = 30.0):
        self.db = db
        self.store_timeout = store_timeout
        self._queue: queue.SimpleQueue[Item | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="consent-verification-log", daemon=True)
        self._stopped = False

    def start(self) -> None:
        self._thread.start()

    def submit(self, rows: list[dict]) -> None:
        """Queue rows without waiting for them to be stored."""
        self._queue.put(([fit(row) for row in rows], None))

    def store(self, rows: list[dict]) -> None:
        """Queue rows and return once they are committed; LogWriteError if they could not be stored."""
        if self._stopped:
            raise LogWriteError("the verification log has stopped")
        done: Future = Future()
        self._queue.put(([fit(row) for row in rows], done))
        try:
            done.result(self.store_timeout)
        except TimeoutError as exc:
            raise LogWriteError("the verification log did not store the rows in time") from exc

    def flush(self) -> None:
        """Wait until everything queued so far is stored (the auditor's read, shutdown)."""
        if self._thread.is_alive():
            done: Future = Future()
            self._queue.put(([], done))
            done.result(self.store_timeout)

    def stop(self) -> None:
        self._stopped = True
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout=10)

    def _next_batch(self) -> tuple[list[Item], bool]:
        """Everything queued by now (at least one item, about BATCH_ROWS rows at most); whether to stop after it."""
        items: list[Item] = []
        rows = 0
        item = self._queue.get()
        while item is not None:
            items.append(item)
            rows += len(item[0])
            if rows >= BATCH_ROWS:
                return items, False
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return items, False
        return items, True

    def _run(self) -> None:
        stopping = False
        while not stopping:
            items, stopping = self._next_batch()
            for (_, done), error in zip(items, self._commit([rows for rows, _ in items]), strict=True):
                if done is None:
                    continue
                if error is None:
                    done.set_result(None)
                else:
                    done.set_exception(LogWriteError(f"the verification log could not store the rows ({error})"))

    def _commit(self, checks: list[list[dict]]) -> list[str | None]:
        """Stores the checks' rows in one transaction, or else check by check; each check's error (None: stored)."""
        rows = [row for check in checks for row in check]
        if not rows:
            return [None] * len(checks)
        try:
            with self.db.engine.begin() as connection:  # Core: the ORM's bulk insert costs more per batch
                connection.execute(TABLE.insert(), rows)
        except Exception as exc:  # noqa: BLE001 - the writer must survive a bad batch or a DB outage
            error = describe(exc)
            if len(checks) > 1 and not isinstance(exc, OperationalError | InterfaceError):  # not an outage
                log.warning("verification log batch of %d rows failed (%s); storing check by check", len(rows), error)
                return [self._commit([check])[0] for check in checks]
            log.error("verification log: %d rows could not be stored: %s", len(rows), error)
            return [error] * len(checks)
        return [None] * len(checks)


def fit(row: dict) -> dict:
    """The row cut to its columns' sizes, NUL (which PostgreSQL refuses in text) escaped."""
    return {
        key: value.replace("\x00", "%00")[: LENGTHS[key]] if isinstance(value, str) and key in LENGTHS else value
        for key, value in row.items()
    }


def describe(exc: Exception) -> str:
    """The database's own message, without SQLAlchemy's statement parameters (the rows' contents)."""
    cause = getattr(exc, "orig", None) or exc
    first_line = (str(cause).splitlines() or [""])[0]
    return f"{type(cause).__name__}: {first_line[:200]}"
