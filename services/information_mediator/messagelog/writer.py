"""The message-log writer: a thread chains, signs and stores records in batches.

`store()` returns once the batch holding its record is committed, so that an exchange is in the durable log
before its response completes. It is a group commit: the thread takes whatever was queued while the previous
transaction committed, so concurrent exchanges share one transaction and none waits on a timer.
`store_blocking()` does the same for code in a worker thread; `submit()` queues without waiting. Records are
fitted to the columns before they are queued (`fields.fit`); should a batch still fail, its records are
stored one by one so that only the bad one is lost. `store.py` holds the database side (DB-API statements)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import queue
import threading
from collections import defaultdict

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.common.database import Database

from .chain import GENESIS, record_hash, sign
from .fields import fit
from .store import Head, open_store

log = logging.getLogger(__name__)

BATCH_SIZE = 500
FLUSH_INTERVAL = 0.05
# Who waits for a queued record: store()'s or store_blocking()'s future, or nobody (submit).
Waiter = asyncio.Future[None] | concurrent.futures.Future[None] | None
# A record and its waiter; flush() queues (None, future).
Item = tuple[dict | None, Waiter]
_STOP = None


class StoreError(RuntimeError):
    """The record could not be stored in the message log."""


class MessageLogWriter:
    def __init__(self, db: Database, key: Ed25519PrivateKey, chain: str, store_timeout: float | None = None):
        """`store_timeout`: how long `store()` waits for the commit before it raises StoreError (None: no limit)."""
        self.db = db
        self.store_timeout = store_timeout
        self.key = key
        self.chain = chain
        self._log_store = open_store(db)
        # The chain's last stored (seq, hash), read once: only this writer appends to its chain (the unique
        # (chain, seq) constraint refuses a second one). Read again after any failure.
        self._head: Head | None = None
        self._queue: queue.SimpleQueue[Item | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="im-message-log", daemon=True)
        self._stopped = False

    def start(self) -> None:
        self._thread.start()

    def submit(self, record: dict) -> None:
        """Queue a record without waiting for it to be stored; ValueError if it is not an exchange record."""
        self._queue.put((fit(record), None))

    async def store(self, record: dict) -> None:
        """Queue a record and return once it is committed; StoreError if it could not be stored (or not within
        `store_timeout`), ValueError if it is not an exchange record."""
        row = fit(record)
        if self._stopped:
            raise StoreError("the message log writer has stopped")
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._queue.put((row, future))
        if self.store_timeout is None:
            await future
            return
        # A timer on the future: cheaper than asyncio.timeout, which every exchange would pay for.
        timer = loop.call_later(self.store_timeout, _overdue, future)
        try:
            await future
        finally:
            timer.cancel()

    def store_blocking(self, record: dict, timeout: float = 30.0) -> None:
        """`store()` for code that runs in a worker thread (e.g. a sync endpoint)."""
        row = fit(record)
        if self._stopped:
            raise StoreError("the message log writer has stopped")
        future: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._queue.put((row, future))
        try:
            future.result(timeout)
        except TimeoutError as exc:
            raise StoreError("the message log did not store the record in time") from exc

    def flush(self, timeout: float = 10.0) -> None:
        """Wait until everything submitted so far is stored (tests, shutdown)."""
        done: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._queue.put((None, done))
        concurrent.futures.wait([done], timeout)

    def stop(self) -> None:
        self._stopped = True
        self._queue.put(_STOP)
        self._thread.join(timeout=10)

    def _next_batch(self) -> tuple[list[Item], bool]:
        """What is queued (at least one item, at most BATCH_SIZE) and whether to stop after it. A record someone
        waits for is committed at once; records only submitted are gathered for up to FLUSH_INTERVAL first,
        as a transaction for each would cost the database more than the wait."""
        items: list[Item] = []
        waited_for = False
        item = self._queue.get()
        while item is not _STOP:
            items.append(item)
            waited_for = waited_for or item[1] is not None
            if len(items) >= BATCH_SIZE:
                return items, False
            try:
                item = self._queue.get(block=not waited_for, timeout=FLUSH_INTERVAL)
            except queue.Empty:
                return items, False
        return items, True

    def _run(self) -> None:
        stopping = False
        while not stopping:
            items, stopping = self._next_batch()
            rows = [row for row, _ in items if row is not None]
            errors = iter(self._commit(rows) if rows else [])
            _settle([(waiter, None if row is None else next(errors)) for row, waiter in items])
        self._log_store.close()

    def _commit(self, rows: list[dict]) -> list[Exception | None]:
        """Stores the rows in one transaction, or else one by one; returns each row's error (None: stored)."""
        try:
            self._store(rows)
        except Exception as exc:  # noqa: BLE001 - the writer must survive a bad batch or a DB outage
            self._head = None
            if len(rows) > 1 and not isinstance(exc, self._log_store.outages):
                log.warning(
                    "message log batch of %d records failed (%s); storing them one by one", len(rows), _describe(exc)
                )
                return [self._commit([row])[0] for row in rows]
            log.error("message log: %d records could not be stored: %s", len(rows), _describe(exc))
            return [exc] * len(rows)
        return [None] * len(rows)

    def _store(self, batch: list[dict]) -> None:
        """Chains and seals the batch, then stores it and moves the signed head in one transaction."""
        if self._head is None:
            self._head = self._log_store.read_head(self.chain) or (0, GENESIS)
        seq, prev = self._head
        rows = []
        for record in batch:
            seq += 1
            row = dict(record, chain=self.chain, seq=seq, prev_hash=prev, signature="")
            prev = row["record_hash"] = record_hash(row, prev, (row["request_body"], row["response_body"]))
            rows.append(row)
        # One signature seals the batch: through the hash chain it covers every record before it.
        seal = rows[-1]["signature"] = sign(self.key, prev)
        self._log_store.append(self.chain, rows, seal)
        self._head = (seq, prev)


def _settle(outcomes: list[tuple[Waiter, Exception | None]]) -> None:
    """Hands each waiting future its outcome: one call into each event loop per batch, not one per record."""
    by_loop: dict[asyncio.AbstractEventLoop, list] = defaultdict(list)
    for future, error in outcomes:
        if isinstance(future, asyncio.Future):
            by_loop[future.get_loop()].append((future, error))
        elif future is not None:  # thread-safe
            _resolve([(future, error)])
    for loop, waiting in by_loop.items():
        try:
            loop.call_soon_threadsafe(_resolve, waiting)
        except RuntimeError:  # that loop has closed: nobody waits any more
            pass


def _overdue(future: asyncio.Future[None]) -> None:
    if not future.done():  # the record is still queued or being stored: it may yet be committed, unawaited
        future.set_exception(StoreError("the message log did not store the record in time"))


def _resolve(outcomes: list[tuple[Waiter, Exception | None]]) -> None:
    for future, error in outcomes:
        if future.done():  # the caller gave up (cancelled)
            continue
        if error is None:
            future.set_result(None)
        else:
            failure = StoreError(f"the message log could not store the record ({_describe(error)})")
            failure.__cause__ = error
            future.set_exception(failure)


def _describe(exc: Exception) -> str:
    """The database's own message, without SQLAlchemy's statement parameters (record contents)."""
    cause = getattr(exc, "orig", None) or exc
    first_line = (str(cause).splitlines() or [""])[0]
    return f"{type(cause).__name__}: {first_line[:200]}"
