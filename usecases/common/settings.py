"""Settings every use case shares: its IM identity, its OIDC client at the Identity BB, sessions."""

from __future__ import annotations

import os

from services.common.settings import ServiceSettings

IDENTITY_OIDC = "SANDBOX/GOV/IDENTITY-AUTHORITY/IDENTITY/oidc"
IDENTITY_VERIFICATION = "SANDBOX/GOV/IDENTITY-AUTHORITY/IDENTITY/verification"
CONSENT = "SANDBOX/GOV/DATA-PROTECTION-AUTHORITY/CONSENT/consent"
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

    @property
    def issuer(self) -> str:
        return (self.identity_issuer or self.identity_url).rstrip("/")

    @property
    def redirect_uri(self) -> str:
        return self.base_url.rstrip("/") + "/auth/callback"


def identity_overrides(prefix: str) -> dict:
    """SANDBOX_IDENTITY_URL (set by the launcher) unless the use case's own variable is set."""
    if f"{prefix}IDENTITY_URL" not in os.environ and os.environ.get("SANDBOX_IDENTITY_URL"):
        return {"identity_url": os.environ["SANDBOX_IDENTITY_URL"]}
    return {}
