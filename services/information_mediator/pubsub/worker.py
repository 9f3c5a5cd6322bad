"""The PUSH delivery worker: claims due deliveries from the database (leased, so replicas do not share
them), POSTs each event to the subscriber's service as the room's application would call it through the
IM, logs every attempt in the message log (`kind` "event") and records the outcome and the next retry."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import threading
import time
from contextlib import nullcontext
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import aiohttp

from services.common.assertion import ASSERTION_HEADER
from services.common.assertion import Exchange as AssertedExchange

from ..registry.service import ServiceEntry
from . import service
from .service import Claimed, Outcome

if TYPE_CHECKING:  # the runtime creates this worker: importing it here would be circular
    from ..runtime import IMRuntime

log = logging.getLogger(__name__)

EXPIRE_EVERY = 1.0  # seconds between TTL sweeps
COALESCE = 0.01  # seconds between a wake-up and the claim


class DeliveryWorker:
    def __init__(self, runtime: IMRuntime, loops: int = 2):
        self.rt = runtime
        self.settings = runtime.settings
        self.loops = loops
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: list[asyncio.Task] = []
        self._last_expiry = 0.0
        self._stopping = False
        # SQLite: writers queue here rather than in SQLite's busy handler, whose sleeps grow to 100 ms.
        self.write_lock = threading.Lock() if runtime.db.is_sqlite else nullcontext()

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        # SQLite has no row locks (FOR UPDATE is ignored): one claiming loop per database there.
        loops = 1 if self.rt.db.is_sqlite else self.loops
        self._tasks = [asyncio.create_task(self._run(), name=f"pubsub-push-{i}") for i in range(loops)]

    async def stop(self, grace: float = 2.0) -> None:
        """Let the loops finish their round (outcomes recorded), then cancel what is still sending."""
        self._stopping = True
        if self._wake is not None:
            self._wake.set()
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    def notify(self) -> None:
        """New deliveries are due (callable from any thread)."""
        if self._loop is not None and self._wake is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    async def _run(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                claimed = await self._claim_async()
            except Exception:  # a DB hiccup must not stop delivery
                log.warning("pub/sub claim failed", exc_info=True)
                claimed = []
            if claimed:
                await self._deliver(claimed)
                continue
            try:
                await asyncio.wait_for(self._wake.wait(), self.settings.pubsub_poll_seconds)
                # Under load, let a few more publications arrive so that one round carries them all.
                await asyncio.sleep(COALESCE)
            except TimeoutError:
                pass

    async def _deliver(self, claimed: list[Claimed]) -> None:
        try:
            outcomes = await asyncio.gather(*(self._send(c) for c in claimed))
        except asyncio.CancelledError:
            await asyncio.shield(asyncio.to_thread(self._release, [c.delivery_id for c in claimed]))
            raise
        try:
            await asyncio.shield(asyncio.to_thread(self._record, outcomes))
        except Exception:  # the leases run out and the deliveries are retried
            log.warning("pub/sub outcome of %d deliveries not recorded", len(outcomes), exc_info=True)

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
        started, request_at = time.perf_counter(), datetime.now(UTC)
        body = json.dumps(c.event, separators=(",", ":")).encode()
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
            status, error, response = await self._post(entry, c, body)
        record = {
            "message_id": c.message_id,
            "kind": "event",
            "client": c.room,
            "service": service_id,
            "method": "POST",
            "path": (c.path or "/")[:2048],
            "status": status,
            "error_type": error.split(":")[0] if error else None,
            "request_at": request_at,
            "response_at": datetime.now(UTC),
            "duration_ms": round((time.perf_counter() - started) * 1000, 3),
            "request_size": len(body),
            "response_size": len(response),
            "request_hash": hashlib.sha256(body).hexdigest(),
            "response_hash": hashlib.sha256(response).hexdigest(),
            "request_body": body[: self.settings.log_body_limit] if self.settings.log_bodies else None,
            "response_body": response[: self.settings.log_body_limit] if self.settings.log_bodies else None,
        }
        self.rt.metrics.observe(record)
        self.rt.writer.submit(record)
        return Outcome(c, status or None, error)

    async def _post(self, entry: ServiceEntry, c: Claimed, body: bytes) -> tuple[int, str | None, bytes]:
        headers = {
            "Content-Type": "application/json",
            "Information-Mediator-Client": c.room,
            "X-Road-Client": c.room,
            "X-Road-Id": c.message_id,
            "X-Road-Service": entry.id,
            ASSERTION_HEADER: self.rt.sign(
                AssertedExchange(
                    client=c.room,
                    service=entry.id,
                    method="POST",
                    path=_target(entry.url + c.path),
                    body_sha256=hashlib.sha256(body).hexdigest(),
                    message_id=c.message_id,
                )
            ),
            "X-GovStack-Event-Id": c.message_id,
            "X-GovStack-Event-Type": c.event["eventType"],
            "X-GovStack-Delivery-Attempt": str(c.attempts + 1),
        }
        timeout = aiohttp.ClientTimeout(total=self.settings.pubsub_delivery_timeout)
        try:
            async with self.rt.http.post(
                entry.url + c.path, data=body, headers=headers, timeout=timeout, allow_redirects=False
            ) as response:
                content = await response.read()
                if 200 <= response.status < 300:
                    return response.status, None, content
                return response.status, f"Server.ServerProxy.HttpError: subscriber answered {response.status}", content
        except (TimeoutError, aiohttp.ServerTimeoutError):
            return 0, "Server.ServerProxy.Timeout: subscriber did not answer in time", b""
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            return 0, f"Server.ServerProxy.NetworkError: {type(exc).__name__}", b""


def _target(url: str) -> str:
    """Path and query as the subscriber receives them (what the assertion binds)."""
    parts = urlsplit(url)
    return (parts.path or "/") + ("?" + parts.query if parts.query else "")
