"""What the IM keeps in memory while it runs: the registry snapshot, the signing key, the HTTP client to
providers, the message-log writer and the metrics."""

from __future__ import annotations

import asyncio
import logging
import ssl

import httpx
from joserfc.jwk import KeySet, OKPKey

from services.common import workers
from services.common.assertion import Exchange as AssertedExchange
from services.common.assertion import sign_assertion
from services.common.database import Database
from services.common.keys import load_or_create_ed25519

from .directory.openapi_docs import DeclaredSpec
from .messagelog.writer import MessageLogWriter
from .monitoring.metrics import Metrics
from .proxy.forward import Exchange
from .proxy.limits import ClientSlots
from .proxy.upstream import UpstreamPool
from .pubsub.worker import DeliveryWorker
from .registry.service import Snapshot, load_snapshot, registry_version
from .settings import IMSettings

log = logging.getLogger(__name__)


def upstream_tls(settings: IMSettings) -> ssl.SSLContext | None:
    """The TLS context toward https providers: the local CA and the IM's client certificate under mutual TLS
    (`sandbox up --mtls`), else None (the system's CAs)."""
    if not settings.upstream_ca_file:
        return None
    context = ssl.create_default_context(cafile=settings.upstream_ca_file)
    if settings.upstream_cert_file:
        context.load_cert_chain(settings.upstream_cert_file, settings.upstream_key_file)
    return context


class IMRuntime:
    def __init__(self, settings: IMSettings, db: Database):
        self.settings = settings
        self.db = db
        self.key: OKPKey = load_or_create_ed25519(settings.keys_dir, "information-mediator")
        self._snapshot = Snapshot()
        self._siblings = workers.current()  # other workers behind the same port, if any
        self.client_slots = ClientSlots(settings.max_concurrent_per_client, settings.client_slot_wait_seconds)
        self.metrics = Metrics()
        self.writer = MessageLogWriter(db, self.key.private_key, settings.node_id, settings.log_store_timeout)
        self.upstream: UpstreamPool | None = None  # to providers (the hot path)
        self.fetcher: httpx.AsyncClient | None = None  # OpenAPI documents
        # Fetched descriptions of federated services, per (service id, specUrl); dropped when the registry changes.
        self.declared_specs: dict[tuple[str, str], DeclaredSpec] = {}
        self._poller: asyncio.Task | None = None
        self.pubsub = DeliveryWorker(self)  # PUSH deliveries

    @property
    def public_jwks(self) -> dict:
        return KeySet([self.key]).as_dict(private=False)

    @property
    def snapshot(self) -> Snapshot:
        """The registry as this process knows it; reloaded first when a sibling worker has changed it, so that a
        change made through one worker holds for the next request any worker serves."""
        if self._siblings is not None and self._siblings.shared_version() > self._snapshot.version:
            self.reload()
        return self._snapshot

    def reload(self) -> None:
        with self.db.session() as session:
            self._snapshot = load_snapshot(session)
        self.declared_specs = {}
        if self._siblings is not None:
            self._siblings.announce_version(self._snapshot.version)

    async def start(self) -> None:
        # `connect_timeout` bounds the wait for a free connection too: a full pool answers Timeout, never hangs.
        tls = upstream_tls(self.settings)
        self.upstream = UpstreamPool(
            self.settings.provider_connections,
            self.settings.connect_timeout,
            self.settings.provider_timeout,
            ssl_context=tls,
        )
        self.fetcher = httpx.AsyncClient(timeout=5, follow_redirects=True, verify=tls if tls is not None else True)
        self.reload()
        self.writer.start()
        self._poller = asyncio.create_task(self._poll_registry())
        self.pubsub.start()

    async def stop(self) -> None:
        if self._poller:
            self._poller.cancel()
        await self.pubsub.stop()
        self.writer.flush()
        self.writer.stop()
        if self.upstream:
            self.upstream.close()
        if self.fetcher:
            await self.fetcher.aclose()

    async def _poll_registry(self) -> None:
        """Another replica may change the registry: reload when its version moves."""
        while True:
            await asyncio.sleep(self.settings.registry_poll_seconds)
            try:
                version = await asyncio.to_thread(self._version)
                if version != self._snapshot.version:
                    await asyncio.to_thread(self.reload)
            except Exception:  # a DB hiccup must not stop polling
                log.warning("registry poll failed", exc_info=True)

    def _version(self) -> int:
        with self.db.session() as session:
            return registry_version(session)

    def sign(self, exchange: AssertedExchange) -> str:
        """A one-use assertion bound to this exchange (client, service, method, path, body hash, message id)."""
        return sign_assertion(self.key, exchange)

    async def log_exchange(self, exchange: Exchange) -> None:
        """Stores the exchange in the message log and returns once it is committed (group commit); raises
        `StoreError` if it could not be stored within `log_store_timeout`. The proxy awaits this before the
        response completes."""
        record = exchange.record(self.settings.log_body_limit)
        self.metrics.observe(record)
        await self.writer.store(record)
