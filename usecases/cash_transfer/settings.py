from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from usecases.common.settings import UseCaseSettings, identity_overrides

PAYMENTS_MAPPER = "SANDBOX/GOV/PAYMENTS-AUTHORITY/PAYMENTS/mapper"
PAYMENTS_G2P = "SANDBOX/GOV/PAYMENTS-AUTHORITY/PAYMENTS/g2p"
CALLBACKS = "SANDBOX/GOV/SOCIAL-WELFARE/USCT/callbacks"


class CashTransferSettings(UseCaseSettings):
    model_config = SettingsConfigDict(env_prefix="CASH_TRANSFER_", extra="ignore")
    service_name: str = "cash_transfer"
    port: int = 8101
    im_client: str | None = "SANDBOX/GOV/SOCIAL-WELFARE/USCT"

    oidc_client_id: str = "usct-cash-transfer"
    data_agreement_id: str = "da-usct-enrollment"
    source_bb_id: str = "USCTREGISTRY"  # SourceBBID: exactly 12 characters (Payments 1.0)

    @property
    def callback_base(self) -> str:
        return f"{self.im_url.rstrip('/')}/r1/{CALLBACKS}"


def load_settings() -> CashTransferSettings:
    return CashTransferSettings(**identity_overrides("CASH_TRANSFER_"))
