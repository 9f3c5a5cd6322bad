"""Settings every use case shares: its IM identity and the IM services it calls (identifiers as in
sandbox/topology.yaml; tests/test_im_identifiers.py checks them), its OIDC client at the Identity BB, sessions."""

from __future__ import annotations

import os

from services.common.settings import ServiceSettings

OIDC_CLAIMS = ["name", "phone_number", "birthdate"]  # asked for at login, registered with the client
OIDC_KEY_NAME = "oidc-client"  # the private_key_jwt key under keys_dir


class UseCaseSettings(ServiceSettings):
    # Browser-facing Identity URL (the launcher passes SANDBOX_IDENTITY_URL; see `identity_overrides`).
    identity_url: str = "http://127.0.0.1:8001"
    # The issuer the ID token and userinfo must carry (Identity's public URL).
    identity_issuer: str | None = None
    oidc_client_id: str = ""
    session_hours: int = 8
    trace_delay_seconds: float = 0.15
    # The IM's read-only viewer token, for the trace API and the trace page links (the launcher passes it).
    im_viewer_token: str | None = None

    # IM services the use case calls, the application that calls back, and our own `callbacks` service
    identity_oidc_service: str = "SANDBOX/GOV/IDENTITY-AUTHORITY/IDENTITY/oidc"
    identity_verification_service: str = "SANDBOX/GOV/IDENTITY-AUTHORITY/IDENTITY/verification"
    consent_service: str = "SANDBOX/GOV/DATA-PROTECTION-AUTHORITY/CONSENT/consent"
    payments_client: str = "SANDBOX/GOV/PAYMENTS-AUTHORITY/PAYMENTS"
    callbacks_service: str = ""

    @property
    def issuer(self) -> str:
        return (self.identity_issuer or self.identity_url).rstrip("/")

    @property
    def redirect_uri(self) -> str:
        return self.base_url.rstrip("/") + "/auth/callback"

    @property
    def callback_base(self) -> str:
        """Where the building blocks reach our `callbacks` service through the IM."""
        return f"{self.im_url.rstrip('/')}/r1/{self.callbacks_service}"


def identity_overrides(prefix: str) -> dict:
    """SANDBOX_IDENTITY_URL (set by the launcher) unless the use case's own variable is set."""
    if f"{prefix}IDENTITY_URL" not in os.environ and os.environ.get("SANDBOX_IDENTITY_URL"):
        return {"identity_url": os.environ["SANDBOX_IDENTITY_URL"]}
    return {}
