"""The PUSH delivery worker: claims due deliveries from the database (leased, so replicas do not share
them), POSTs each event to the subscriber's service as the room's application would call it through the
IM, logs every attempt in the message log (`kind` "event") and records the outcome and the next retry."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import threading
import time
from collections import deque
from contextlib import nullcontext
from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit

from services.common.assertion import ASSERTION_HEADER
from services.common.assertion import Exchange as AssertedExchange
from services.common.clock import utcnow

from ..messagelog.record import exchange_record
from ..proxy.upstream import Origin, UpstreamError, UpstreamPool, UpstreamTimeout
from ..registry.service import ServiceEntry
from . import service
from .publisher import PublishBatcher
from .service import Claimed, Outcome

if TYPE_CHECKING:  # the runtime creates this worker: importing it here would be circular
    from ..runtime import IMRuntime

log = logging.getLogger(__name__)

EXPIRE_EVERY = 1.0  # seconds between TTL sweeps
COALESCE = 0.01  # seconds between a wake-up and the claim
MAX_READY = 20_000  # deliveries waiting to be sent; beyond, new ones wait in the database for a claim
TARGET_SAFE = "/%:@!$&'()*+,;=~-._"  # left as they are in a PUSH target's path (RFC 3986 pchar, and '/')


class DeliveryWorker:
    """Deliveries come from two sources: the publisher hands over the ones it leased to this node when it
    stored them (`accept`), and a claim loop leases the others from the database (FIFO ones, retries, other
    nodes' expired leases), when told to (`notify`), after a FIFO delivery or a retry, and every poll
    period. Up to `pubsub_batch` are sent at once; outcomes are recorded in group commits."""

    def __init__(self, runtime: IMRuntime):
        self.rt = runtime
        self.settings = runtime.settings
        # SQLite: writers queue here rather than in SQLite's busy handler, whose sleeps grow to 100 ms.
        self.write_lock = threading.Lock() if runtime.db.is_sqlite else nullcontext()
        self.publisher = PublishBatcher(
            runtime.db, self.settings.node_id, self.settings.pubsub_lease_seconds, self.write_lock, self
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake = asyncio.Event()  # something to send, or a claim wanted
        self._recorded = asyncio.Event()  # outcomes to record
        self._ready: deque[Claimed] = deque()
        self._sending: dict[asyncio.Task, Claimed] = {}
        self._outcomes: list[Outcome] = []
        self._claim_wanted = True
        self._tasks: list[asyncio.Task] = []
        self._recorder: asyncio.Task | None = None
        self._last_expiry = 0.0
        self._stopping = False

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake, self._recorded = asyncio.Event(), asyncio.Event()
        self._slots = asyncio.Semaphore(self.settings.pubsub_batch)
        self._pool = self._subscriber_pool()
        self._stopping = False
        self._tasks = [asyncio.create_task(self._dispatch(), name="pubsub-dispatch")]
        self._recorder = asyncio.create_task(self._record_loop(), name="pubsub-record")
        self.publisher.start()

    async def stop(self, grace: float = 2.0) -> None:
        """No new publications; let the sends under way finish (outcomes recorded), cancel what is still
        sending after `grace`, and give back the leases of deliveries not attempted."""
        await asyncio.to_thread(self.publisher.stop)
        self._stopping = True
        self._wake.set()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._sending:
            _, pending = await asyncio.wait(list(self._sending), timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        unsent = [c.delivery_id for c in self._ready] + [c.delivery_id for c in self._sending.values()]
        self._ready.clear()
        self._recorded.set()
        if self._recorder is not None:
            await asyncio.gather(self._recorder, return_exceptions=True)
        if unsent:
            await asyncio.to_thread(self._release, unsent)
        self._tasks = []
        self._pool.close()

    def _subscriber_pool(self) -> UpstreamPool:
        """The proxy's HTTP client (keep-alive, httptools), a pool of its own: deliveries do not take the
        proxy's connections. The TLS context is the proxy's (mutual TLS under `sandbox up --mtls`)."""
        from ..runtime import upstream_tls  # the runtime imports this module

        return UpstreamPool(
            self.settings.pubsub_batch,
            self.settings.connect_timeout,
            self.settings.pubsub_delivery_timeout,
            ssl_context=upstream_tls(self.settings),
        )

    # ---- from other threads ----------------------------------------------------------------------

    def notify(self) -> None:
        """Deliveries to claim from the database are due (callable from any thread)."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._want_claim)

    def wants_leased(self) -> bool:
        """Whether the publisher should lease new deliveries to this node (it keeps up)."""
        return not self._stopping and len(self._ready) < MAX_READY

    def accept(self, published: list[service.Published]) -> None:
        """Stored publications: their leased deliveries are sent; the others are claimed."""
        leased = [c for p in published for c in p.leased]
        claim = any(p.deliveries > len(p.leased) for p in published)
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._take, leased, claim)

    # ---- on the event loop -----------------------------------------------------------------------

    def _want_claim(self) -> None:
        self._claim_wanted = True
        self._wake.set()

    def _take(self, leased: list[Claimed], claim: bool) -> None:
        if self._stopping:  # not sent here: their leases are given back
            asyncio.ensure_future(asyncio.to_thread(self._release, [c.delivery_id for c in leased]))
            return
        self._ready.extend(leased)
        self._claim_wanted = self._claim_wanted or claim
        self._wake.set()

    async def _dispatch(self) -> None:
        next_poll = 0.0
        while not self._stopping:
            if self._claim_wanted or time.monotonic() >= next_poll:
                self._claim_wanted = False
                next_poll = time.monotonic() + self.settings.pubsub_poll_seconds
                try:
                    claimed = await self._claim_async()
                except Exception:  # a DB hiccup must not stop delivery
                    log.warning("pub/sub claim failed", exc_info=True)
                    claimed = []
                self._ready.extend(claimed)
                self._claim_wanted = len(claimed) >= self.settings.pubsub_batch  # more are waiting
            while self._ready and not self._stopping:
                await self._slots.acquire()
                if self._stopping or not self._ready:
                    self._slots.release()
                    break
                c = self._ready.popleft()
                task = asyncio.create_task(self._send_one(c))
                self._sending[task] = c
            if not self._ready and not self._claim_wanted and not self._stopping:
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), max(0.0, next_poll - time.monotonic()))
                except TimeoutError:
                    pass
                if self._claim_wanted:  # under load, let a few more become due so one claim takes them all
                    await asyncio.sleep(COALESCE)

    async def _send_one(self, c: Claimed) -> None:
        try:
            outcome = await self._send(c)
        finally:
            self._slots.release()
        self._sending.pop(asyncio.current_task(), None)
        self._outcomes.append(outcome)
        self._recorded.set()

    async def _record_loop(self) -> None:
        while True:
            await self._recorded.wait()
            self._recorded.clear()
            outcomes, self._outcomes = self._outcomes, []
            if outcomes:
                try:
                    await asyncio.shield(asyncio.to_thread(self._record, outcomes))
                except Exception:  # the leases run out and the deliveries are retried
                    log.warning("pub/sub outcome of %d deliveries not recorded", len(outcomes), exc_info=True)
                self._after_record(outcomes)
            if self._stopping and not self._sending and not self._outcomes:
                return

    def _after_record(self, outcomes: list[Outcome]) -> None:
        """A FIFO subscription's next event is claimable now; a retry when its backoff has passed."""
        if any(o.claimed.fifo for o in outcomes):
            self._want_claim()
        retries = [
            o.claimed.policy.delay(o.claimed.attempts + 1)
            for o in outcomes
            if not o.ok and not o.claimed.policy.gives_up(o.claimed.attempts + 1)
        ]
        if retries and self._loop is not None:
            self._loop.call_later(min(retries).total_seconds(), self._want_claim)

    async def _claim_async(self) -> list[Claimed]:
        """A claim committed by the thread while this task is cancelled is given back, not left leased."""
        future = asyncio.ensure_future(asyncio.to_thread(self._claim))
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            claimed = await future
            await asyncio.to_thread(self._release, [c.delivery_id for c in claimed])
            raise

    def _claim(self) -> list[Claimed]:
        with self.write_lock, self.rt.db.session() as session:
            if time.monotonic() - self._last_expiry > EXPIRE_EVERY:
                self._last_expiry = time.monotonic()
                service.expire(session)
            return service.claim(
                session, self.settings.node_id, self.settings.pubsub_batch, self.settings.pubsub_lease_seconds
            )

    def _record(self, outcomes: list[Outcome]) -> None:
        with self.write_lock, self.rt.db.session() as session:
            service.record_outcomes(session, outcomes)

    def _release(self, ids: list[int]) -> None:
        with self.write_lock, self.rt.db.session() as session:
            service.release(session, ids)

    async def _send(self, c: Claimed) -> Outcome:
        started, request_at = time.perf_counter(), utcnow()
        service_id = f"{c.subscriber}/{c.service_code}"
        entry = self.rt.snapshot.services.get(service_id)
        status, error, response = 0, None, b""
        if entry is None:
            error = f"Server.UnknownService: {service_id} is not registered"
        elif not entry.enabled:
            error = f"Server.ServiceDisabled: {service_id} is disabled"
        elif not entry.allows(c.room, "POST", c.path or ""):
            error = f"Client.AccessDenied: room {c.room} has no access right to POST {c.path} on {service_id}"
        else:
            status, error, response = await self._post(entry, c)
        keep = self.settings.log_body_limit if self.settings.log_bodies else None
        record = exchange_record(  # not `event_record`: the body's hash is at hand
            message_id=c.message_id,
            kind="event",
            client=c.room,
            service=service_id,
            method="POST",
            path=c.path or "/",
            status=status,
            error_type=error.split(":")[0] if error else None,
            request_at=request_at,
            started=started,
            request_size=len(c.body.json),
            response_size=len(response),
            request_hash=c.body.sha256,
            response_hash=hashlib.sha256(response).hexdigest(),
            request_body=c.body.json[:keep] if keep is not None else None,
            response_body=response[:keep] if keep is not None else None,
        )
        self.rt.metrics.observe(record)
        self.rt.writer.submit(record)
        return Outcome(c, status or None, error)

    async def _post(self, entry: ServiceEntry, c: Claimed) -> tuple[int, str | None, bytes]:
        try:
            origin, target = destination(entry.url + c.path)
        except ValueError as exc:
            return 0, f"Server.ServerProxy.NetworkError: {exc}", b""
        assertion = self.rt.sign(AssertedExchange(c.room, entry.id, "POST", target, c.body.sha256, c.message_id))
        headers = [
            ("Content-Type", "application/json"),
            ("Information-Mediator-Client", c.room),
            ("X-Road-Client", c.room),
            ("X-Road-Id", c.message_id),
            ("X-Road-Service", entry.id),
            (ASSERTION_HEADER, assertion),
            ("X-GovStack-Event-Id", c.message_id),
            ("X-GovStack-Event-Type", c.body.item["eventType"]),
            ("X-GovStack-Delivery-Attempt", str(c.attempts + 1)),
        ]
        try:
            async with asyncio.timeout(self.settings.pubsub_delivery_timeout):
                response = await self._pool.request(origin, "POST", target, headers, c.body.json)
                try:
                    content = b"".join([piece async for piece in response.pieces()])
                finally:
                    response.release()
        except (TimeoutError, UpstreamTimeout):
            return 0, "Server.ServerProxy.Timeout: subscriber did not answer in time", b""
        except (UpstreamError, OSError, ValueError) as exc:
            return 0, f"Server.ServerProxy.NetworkError: {type(exc).__name__}", b""
        if 200 <= response.status < 300:
            return response.status, None, content
        return response.status, f"Server.ServerProxy.HttpError: subscriber answered {response.status}", content


@functools.lru_cache(maxsize=1024)
def destination(url: str) -> tuple[Origin, str]:
    """`http://host:port/base/path?q` -> (origin, "/base/path?q"): where to connect, and the target as sent
    (percent-encoded) and bound by the assertion. ValueError for a URL that is not http(s)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("the service URL is not an http(s) URL")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    target = quote(parts.path or "/", safe=TARGET_SAFE) + (
        "?" + quote(parts.query, safe=TARGET_SAFE + "?") if parts.query else ""
    )
    return (parts.scheme, parts.hostname or "", port), target
