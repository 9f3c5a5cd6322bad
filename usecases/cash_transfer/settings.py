from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from services.common.settings import ServiceSettings

IDENTITY_OIDC = "SANDBOX/GOV/IDENTITY-AUTHORITY/IDENTITY/oidc"
PAYMENTS_MAPPER = "SANDBOX/GOV/PAYMENTS-AUTHORITY/PAYMENTS/mapper"
PAYMENTS_G2P = "SANDBOX/GOV/PAYMENTS-AUTHORITY/PAYMENTS/g2p"
CONSENT = "SANDBOX/GOV/DATA-PROTECTION-AUTHORITY/CONSENT/consent"
CALLBACKS = "SANDBOX/GOV/SOCIAL-WELFARE/USCT/callbacks"


class CashTransferSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CASH_TRANSFER_", extra="ignore")
    service_name: str = "cash_transfer"
    port: int = 8101
    im_client: str | None = "SANDBOX/GOV/SOCIAL-WELFARE/USCT"

    # Browser-facing Identity URL (the launcher passes SANDBOX_IDENTITY_URL; read without our prefix).
    identity_url: str = "http://127.0.0.1:8001"
    # The issuer the ID token and userinfo must carry (Identity's public URL).
    identity_issuer: str | None = None
    oidc_client_id: str = "usct-cash-transfer"
    data_agreement_id: str = "da-usct-enrollment"
    source_bb_id: str = "USCT"
    # Roles from identity claims: "<claim>=<value>" -> role. Anyone matching a candidate is a beneficiary.
    role_claims: dict[str, str] = {
        "email=kofi.mensah@example.org": "enrollment_officer",
        "email=amina.haddad@example.org": "payment_officer",
    }
    session_hours: int = 8
    trace_delay_seconds: float = 0.15

    @property
    def issuer(self) -> str:
        return (self.identity_issuer or self.identity_url).rstrip("/")

    @property
    def callback_base(self) -> str:
        return f"{self.im_url.rstrip('/')}/r1/{CALLBACKS}"


def load_settings() -> CashTransferSettings:
    import os

    overrides = {}
    if "CASH_TRANSFER_IDENTITY_URL" not in os.environ and os.environ.get("SANDBOX_IDENTITY_URL"):
        overrides["identity_url"] = os.environ["SANDBOX_IDENTITY_URL"]
    return CashTransferSettings(**overrides)
