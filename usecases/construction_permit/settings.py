from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from services.common.settings import ServiceSettings

PAYMENTS_P2G = "SANDBOX/GOV/PAYMENTS-AUTHORITY/PAYMENTS/p2g"
PAYMENTS_CLIENT = "SANDBOX/GOV/PAYMENTS-AUTHORITY/PAYMENTS"


class ConstructionPermitSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CONSTRUCTION_PERMIT_", extra="ignore")
    service_name: str = "construction_permit"
    port: int = 8102
    im_client: str | None = "SANDBOX/GOV/MUNICIPALITY/CONSTRUCTION-PERMIT"

    # The municipality as a biller registered with the Payments hub (Payments' seed.yaml holds the same ids).
    biller_id: str = "MUNI-SBX"
    biller_name: str = "SandboxCty"  # the spec allows 10 characters
    bill_prefix: str = "MSC-"
    tenant: str = "sandbox"
    bill_due_days: int = 30
    late_fee_percent: int = 10
