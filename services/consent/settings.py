"""Settings of the Consent building block (env prefix `CONSENT_`)."""

from __future__ import annotations

import os

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.common.settings import ServiceSettings


def _identity_url() -> str:
    """The launcher gives every service Identity's URL as SANDBOX_IDENTITY_URL."""
    return os.environ.get("SANDBOX_IDENTITY_URL", "http://127.0.0.1:8001")


class ConsentSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CONSENT_", extra="ignore")

    service_name: str = "consent"
    port: int = 8003
    im_client: str | None = "SANDBOX/GOV/DATA-PROTECTION-AUTHORITY/CONSENT"
    # The operator's credential (`Authorization: Bearer ...`); else generated under <data_dir>/secrets/.
    admin_token: str | None = None

    # The individual's proof (X-ConsentBB-Individual-Proof): a JWT the Identity BB signed for them.
    identity_url: str = Field(default_factory=_identity_url)
    identity_issuer: str | None = None  # the `iss` of Identity's tokens; default: identity_url
    identity_verification_service: str = "SANDBOX/GOV/IDENTITY-AUTHORITY/IDENTITY/verification"
    individual_proof_max_age_seconds: int = 3600

    # IM members the demo seed names: the identity provider of seeded individuals, and the controllers of the
    # seeded data agreements (and owners of their policies).
    identity_provider_id: str = "SANDBOX/GOV/IDENTITY-AUTHORITY/IDENTITY"
    welfare_member: str = "SANDBOX/GOV/SOCIAL-WELFARE"
    municipality_member: str = "SANDBOX/GOV/MUNICIPALITY"

    # Webhook delivery: exponential back-off `base * 2**attempt` seconds, capped, then given up.
    webhook_retry_base_seconds: float = 1.0
    webhook_retry_max_seconds: float = 300.0
    webhook_max_attempts: int = 8
    webhook_poll_seconds: float = 0.5
    webhook_timeout_seconds: float = 5.0
    # Largest page any list operation returns.
    max_page_size: int = 1000

    @property
    def issuer(self) -> str:
        return (self.identity_issuer or self.identity_url).rstrip("/")
