from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.common.settings import ServiceSettings


class IMSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="INFORMATION_MEDIATOR_", extra="ignore")

    service_name: str = "information_mediator"
    port: int = 8000
    instance: str = "SANDBOX"
    # Administrator credential for the Configuration Management API (Bearer). Generated under
    # var/secrets/im-admin-token when unset.
    admin_token: str | None = None
    # Provider timeouts (seconds).
    connect_timeout: float = 5.0
    provider_timeout: float = 30.0
    # Message log: bodies are off by default (non-repudiation of metadata and hashes only).
    log_bodies: bool = False
    log_body_limit: int = 64 * 1024
    # Name of this node's hash chain in the message log; replicas sharing a database use distinct names.
    # With several workers each worker is a node of its own: `<node_id>-w<N>` (N from 1).
    node_id: str = "im-1"
    # Worker processes behind the one port (`sandbox serve`, sandbox/workers.py); see the README, Performance.
    workers: int = Field(default=1, ge=1, le=64)
    # How often a replica checks whether another replica changed the registry.
    registry_poll_seconds: float = 2.0
    # Publish/subscribe: PUSH retry defaults (a subscription may override them within the limits below).
    pubsub_max_attempts: int = 12
    pubsub_min_backoff: float = 1.0  # seconds before the first retry; doubles on each attempt
    pubsub_max_backoff: float = 600.0
    pubsub_limit_max_attempts: int = 100
    pubsub_limit_min_backoff: float = 0.05
    pubsub_limit_max_backoff: float = 3600.0
    pubsub_default_ttl: int = 3600  # seconds (the spec's default)
    pubsub_max_ttl: int = 7 * 24 * 3600
    pubsub_delivery_timeout: float = 10.0  # per PUSH attempt
    pubsub_lease_seconds: float = 60.0  # a claimed delivery is reclaimable by another replica after this
    pubsub_poll_seconds: float = 0.5  # how often the worker looks for due retries and other replicas' events
    pubsub_batch: int = 200  # deliveries claimed per round
    # Observability (trace, monitoring, /metrics) is private: the admin token or this read-only viewer
    # token (Bearer; `?token=` on the trace page). Generated under var/secrets/im-viewer-token when unset.
    viewer_token: str | None = None
    # Show personal identifiers (long digit runs, e-mail addresses, query values) in the trace; redacted
    # at read time otherwise (the message log keeps the exact path).
    trace_identifiers: bool = False
    # Resource isolation of the proxy: request bodies are read whole (their hash is signed toward the provider)
    # within these bounds; a service that takes large batches gets its own limit by service id.
    max_request_bytes: int = 16 * 1024 * 1024
    max_request_bytes_per_service: dict[str, int] = {"SANDBOX/GOV/PAYMENTS-AUTHORITY/PAYMENTS/g2p": 128 * 1024 * 1024}
    request_body_timeout: float = 30.0
    # Mutual TLS toward https providers (`sandbox up --mtls`): the CA their certificates come from, and the IM's
    # client certificate and key. Without them, https providers are checked against the system's CAs.
    upstream_ca_file: str | None = None
    upstream_cert_file: str | None = None
    upstream_key_file: str | None = None
    # Connections to providers shared by all clients (a request holds one only once its body is read).
    provider_connections: int = 500
    # Concurrent exchanges per client application; a call waits this long for a slot, then gets 429.
    max_concurrent_per_client: int = 128
    client_slot_wait_seconds: float = 5.0
    # An exchange whose log record is not committed within this time fails (the response is cut short).
    log_store_timeout: float = 10.0
    # ---- One member cannot stall everyone (issue 16, finding 6): pub/sub schemas and events, refused admin calls.
    pubsub_max_schema_bytes: int = 64 * 1024  # an event type's JSON Schema, serialised
    pubsub_max_event_bytes: int = 256 * 1024  # one published event, serialised
    pubsub_validation_seconds: float = 1.0  # checking one event against its schema; a slower check is refused
    admin_refusal_audit_seconds: float = 10.0  # refused admin calls: one audit entry per source and action per period
    admin_refusals_per_second: int = 20  # refused admin calls from one source beyond this are answered 429
