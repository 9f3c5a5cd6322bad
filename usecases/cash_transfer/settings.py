from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from usecases.common.settings import UseCaseSettings, identity_overrides


class CashTransferSettings(UseCaseSettings):
    model_config = SettingsConfigDict(env_prefix="CASH_TRANSFER_", extra="ignore")
    service_name: str = "cash_transfer"
    port: int = 8101
    im_client: str | None = "SANDBOX/GOV/SOCIAL-WELFARE/USCT"
    callbacks_service: str = "SANDBOX/GOV/SOCIAL-WELFARE/USCT/callbacks"
    payments_mapper_service: str = "SANDBOX/GOV/PAYMENTS-AUTHORITY/PAYMENTS/mapper"
    payments_g2p_service: str = "SANDBOX/GOV/PAYMENTS-AUTHORITY/PAYMENTS/g2p"
    consent_client: str = "SANDBOX/GOV/DATA-PROTECTION-AUTHORITY/CONSENT"  # sends the consent webhook

    oidc_client_id: str = "usct-cash-transfer"
    data_agreement_id: str = "da-usct-enrollment"
    source_bb_id: str = "USCTREGISTRY"  # SourceBBID: exactly 12 characters (Payments 1.0)


def load_settings() -> CashTransferSettings:
    return CashTransferSettings(**identity_overrides("CASH_TRANSFER_"))
