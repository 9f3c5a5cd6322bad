"""Group commit of publications: a thread stores, in one transaction, every publication queued while the
previous transaction committed, so concurrent publishers share a commit and nobody waits on a timer (as
the message-log writer does). A publisher gets its answer once its event and deliveries are committed.
Should a batch fail as a whole (a unique id raced by another node), its publications are stored one by one
so that each gets its own answer."""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections import defaultdict
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

from services.common.database import Database

from . import service
from .service import Publication, Published

if TYPE_CHECKING:
    from .worker import DeliveryWorker

log = logging.getLogger(__name__)

MAX_BATCH = 500
Item = tuple[Publication, asyncio.Future]


class PublishBatcher:
    def __init__(
        self,
        db: Database,
        node: str,
        lease_seconds: float,
        write_lock: AbstractContextManager,
        worker: DeliveryWorker,
    ):
        """Each commit's new PUSH deliveries go to `worker`: leased to this node at once while the worker
        keeps up, left for its claims otherwise."""
        self.db, self.node, self.lease_seconds = db, node, lease_seconds
        self.write_lock = write_lock
        self.worker = worker
        self._queue: queue.SimpleQueue[Item | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="im-pubsub-publish", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stores what is queued, then ends the thread."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=30)
            self._thread = None

    async def publish(self, publication: Publication, timeout: float = 30.0) -> Published:
        """Returns once stored; PubSubError when refused."""
        if self._thread is None:
            raise RuntimeError("the pub/sub publisher is not running")
        future: asyncio.Future[Published] = asyncio.get_running_loop().create_future()
        self._queue.put((publication, future))
        async with asyncio.timeout(timeout):
            return await future

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            batch = [first] if first is not None else []
            stopping = first is None
            while len(batch) < MAX_BATCH:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stopping = True
                    continue
                batch.append(item)
            if batch:
                self._store(batch)

    def _store(self, batch: list[Item]) -> None:
        node = self.node if self.worker.wants_leased() else None
        try:
            with self.write_lock, self.db.session() as session:
                results = service.publish_batch(session, [p for p, _ in batch], node, self.lease_seconds)
        except Exception as exc:
            if len(batch) > 1:
                for item in batch:
                    self._store([item])
                return
            log.warning("pub/sub publication not stored", exc_info=True)
            _settle([(batch[0][1], exc)])
            return
        stored = [r for r in results if isinstance(r, Published) and r.created]
        if stored:
            try:
                self.worker.accept(stored)
            except Exception:  # the deliveries are committed: leases run out and they are claimed
                log.warning("pub/sub: handing %d publications to the worker failed", len(stored), exc_info=True)
        _settle([(future, result) for (_, future), result in zip(batch, results, strict=True)])


def _settle(outcomes: list[tuple[asyncio.Future, Published | Exception]]) -> None:
    """One call into each waiting event loop per batch, not one wake-up per publication."""
    by_loop: dict[asyncio.AbstractEventLoop, list] = defaultdict(list)
    for future, result in outcomes:
        by_loop[future.get_loop()].append((future, result))
    for loop, waiting in by_loop.items():
        try:
            loop.call_soon_threadsafe(_resolve, waiting)
        except RuntimeError:  # that loop has closed: nobody waits any more
            pass


def _resolve(outcomes: list[tuple[asyncio.Future, Published | Exception]]) -> None:
    for future, result in outcomes:
        if future.done():  # the publisher gave up waiting
            continue
        if isinstance(result, Exception):
            future.set_exception(result)
        else:
            future.set_result(result)
