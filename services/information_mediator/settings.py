from __future__ import annotations

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
    node_id: str = "im-1"
    # How often a replica checks whether another replica changed the registry.
    registry_poll_seconds: float = 2.0
