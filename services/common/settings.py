"""Settings shared by every service; each service subclasses with its own env prefix.

`SERVICE_DATABASE_URL` (e.g. `PAYMENTS_DATABASE_URL`) wins over the global `DATABASE_URL`.
With the global URL on PostgreSQL every service gets its own schema named after it, so one
server database holds the whole sandbox while each service still owns its tables.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from .callback_targets import checked_allow_list


class ServiceSettings(BaseSettings):
    # Subclasses set their own prefix (PAYMENTS_, ...); the base never reads the global DATABASE_URL as its own.
    model_config = SettingsConfigDict(env_prefix="SANDBOX_SERVICE_", extra="ignore")

    service_name: str = "service"
    data_dir: Path = Path("var")
    database_url: str | None = None
    database_schema: str | None = None
    log_json: bool = False
    log_level: str = "INFO"
    host: str = "127.0.0.1"
    port: int = 0
    # What a browser uses to reach this service (issuer, redirect URIs, page links) when it is not host:port,
    # e.g. behind a proxy, an ingress or compose's published ports. What other services call is their own
    # setting (`im_url`, and e.g. Consent's `identity_url`).
    public_url: str | None = None
    seed: bool = True
    # Set by the launcher for each start and echoed by /health (see sandbox/launcher.py `wait_healthy`).
    launch_id: str | None = None

    # Outgoing calls through the Information Mediator.
    im_url: str = "http://127.0.0.1:8000"
    # The IM's address for browsers (links to its trace page); default: im_url.
    im_public_url: str | None = None
    im_client: str | None = None  # SANDBOX/GOV/MEMBER/APPLICATION of this service
    im_client_secret: str | None = None
    # Serve non-public routes only to calls the IM vouches for (guard.py). Switching it off is for poking one
    # service directly during development, and the service says so loudly in its log at every start.
    require_im_assertion: bool = True
    # Mutual TLS with the IM (`sandbox up --mtls`): the IM's calls arrive only on the TLS listener that takes
    # the IM's client certificate; on the plain port, non-public routes answer only the operator.
    require_mtls: bool = False
    # The largest request body a service reads (bytes); the IM proxy has its own limit.
    max_request_bytes: int = 64 * 1024 * 1024
    # Callback and webhook targets accepted besides the caller's own IM services (callback_targets.py): URL
    # prefixes the operator trusts, e.g. `PAYMENTS_CALLBACK_ALLOW_LIST='["https://receiver.example/hooks/"]'`.
    callback_allow_list: list[str] = []

    @field_validator("callback_allow_list")
    @classmethod
    def _allow_list_of_urls(cls, value: list[str]) -> list[str]:
        return checked_allow_list(value)

    @property
    def keys_dir(self) -> Path:
        return self.data_dir / "keys"

    @property
    def base_url(self) -> str:
        """What a browser uses: `public_url`, else host:port (loopback for a wildcard address such as 0.0.0.0)."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host  # noqa: S104 - compared, not bound
        return self.public_url or f"http://{host}:{self.port}"

    @property
    def im_browser_url(self) -> str:
        return (self.im_public_url or self.im_url).rstrip("/")

    def resolved_database(self) -> tuple[str, str | None]:
        """The SQLAlchemy URL and the PostgreSQL schema (None for SQLite or a dedicated database)."""
        if self.database_url:
            return self.database_url, self.database_schema
        shared = os.environ.get("DATABASE_URL")
        if shared:
            schema = self.database_schema or (self.service_name if shared.startswith("postgresql") else None)
            return shared, schema
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{(self.data_dir / f'{self.service_name}.db').resolve()}", None
