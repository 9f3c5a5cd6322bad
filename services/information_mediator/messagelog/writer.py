"""The message-log writer: the proxy hands it finished exchanges; a thread chains, signs and stores them
in batches so that logging does not sit on the request path."""

from __future__ import annotations

import logging
import queue
import threading

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import insert

from services.common.database import Database

from .chain import GENESIS, record_hash, sign
from .models import ChainHead, LogRecord

log = logging.getLogger(__name__)

BATCH_SIZE = 500
FLUSH_INTERVAL = 0.05


class MessageLogWriter:
    def __init__(self, db: Database, key: Ed25519PrivateKey, chain: str):
        self.db = db
        self.key = key
        self.chain = chain
        self._queue: queue.Queue[dict | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="im-message-log", daemon=True)
        self._idle = threading.Event()
        self._idle.set()

    def start(self) -> None:
        self._thread.start()

    def submit(self, record: dict) -> None:
        self._idle.clear()
        self._queue.put(record)

    def flush(self, timeout: float = 10.0) -> None:
        """Wait until everything submitted so far is stored (tests, shutdown)."""
        done = threading.Event()
        self._queue.put({"__flush__": done})
        done.wait(timeout)

    def stop(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)

    def _next_batch(self) -> tuple[list[dict], list[threading.Event], bool]:
        batch, waiters, stopping = [], [], False
        item = self._queue.get()
        while True:
            if item is None:
                stopping = True
                break
            if "__flush__" in item:
                waiters.append(item["__flush__"])
            else:
                batch.append(item)
            if len(batch) >= BATCH_SIZE:
                break
            try:
                item = self._queue.get(timeout=FLUSH_INTERVAL if not waiters else 0)
            except queue.Empty:
                break
        return batch, waiters, stopping

    def _run(self) -> None:
        while True:
            batch, waiters, stopping = self._next_batch()
            if batch:
                try:
                    self._store(batch)
                except Exception:  # the writer must survive a bad batch or a DB outage
                    log.exception("message log batch of %d records could not be stored", len(batch))
            for w in waiters:
                w.set()
            if stopping:
                return

    def _store(self, batch: list[dict]) -> None:
        with self.db.session() as session:
            head = session.get(ChainHead, self.chain, with_for_update=True)
            seq, prev = (head.seq, head.record_hash) if head else (0, GENESIS)
            rows = []
            for record in batch:
                seq += 1
                row = dict(record, chain=self.chain, seq=seq, prev_hash=prev)
                row["record_hash"] = record_hash(row, prev, (row.get("request_body"), row.get("response_body")))
                row["signature"] = ""
                prev = row["record_hash"]
                rows.append(row)
            # One signature seals the batch: through the hash chain it covers every record before it.
            rows[-1]["signature"] = sign(self.key, prev)
            session.connection().execute(insert(LogRecord.__table__), rows)  # Core: no ORM bookkeeping
            if head is None:
                session.add(ChainHead(chain=self.chain, seq=seq, record_hash=prev, signature=sign(self.key, prev)))
            else:
                head.seq, head.record_hash, head.signature = seq, prev, sign(self.key, prev)
