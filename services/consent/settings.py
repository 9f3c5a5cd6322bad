"""Settings of the Consent building block (env prefix `CONSENT_`)."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from services.common.settings import ServiceSettings


class ConsentSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CONSENT_", extra="ignore")

    service_name: str = "consent"
    port: int = 8003
    im_client: str | None = "SANDBOX/GOV/DATA-PROTECTION-AUTHORITY/CONSENT"

    # Webhook delivery: exponential back-off `base * 2**attempt` seconds, capped, then given up.
    webhook_retry_base_seconds: float = 1.0
    webhook_retry_max_seconds: float = 300.0
    webhook_max_attempts: int = 8
    webhook_poll_seconds: float = 0.5
    webhook_timeout_seconds: float = 5.0
    # Largest page any list operation returns.
    max_page_size: int = 1000
