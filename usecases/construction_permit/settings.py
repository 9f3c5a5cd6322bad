from __future__ import annotations

import os

from pydantic_settings import SettingsConfigDict

from usecases.common.settings import UseCaseSettings, identity_overrides

OFFICER_ROLES = ("permit_officer", "civil_protection_officer", "utilities_officer", "mayor")


class ConstructionPermitSettings(UseCaseSettings):
    model_config = SettingsConfigDict(env_prefix="CONSTRUCTION_PERMIT_", extra="ignore")
    service_name: str = "construction_permit"
    port: int = 8102
    im_client: str | None = "SANDBOX/GOV/MUNICIPALITY/CONSTRUCTION-PERMIT"
    callbacks_service: str = "SANDBOX/GOV/MUNICIPALITY/CONSTRUCTION-PERMIT/callbacks"
    payments_p2g_service: str = "SANDBOX/GOV/PAYMENTS-AUTHORITY/PAYMENTS/p2g"

    oidc_client_id: str = "construction-permit"
    owner_agreement_id: str = "da-construction-permit-owner"
    municipality: str = "Municipality of Sandbox City"
    # Browser-facing Payments URL, for the link to the simulated bank (the launcher passes SANDBOX_PAYMENTS_URL)
    payments_url: str = "http://127.0.0.1:8002"
    max_document_bytes: int = 5 * 1024 * 1024
    # The IM pub/sub room is this application; one event type carries every application's news.
    event_type: str = "permit-application-updated"

    # The municipality as a biller registered with the Payments hub (Payments' seed.yaml holds the same ids).
    biller_id: str = "MUNI-SBX"
    biller_name: str = "SandboxCty"  # the spec allows 10 characters
    bill_prefix: str = "MSC-"
    tenant: str = "sandbox"
    bill_due_days: int = 30
    late_fee_percent: int = 10

    @property
    def room(self) -> str:
        """The IM pub/sub room is this application: its API under `<room>/api`, publishing under `<room>/pub`
        (those take the place of a service code)."""
        return str(self.im_client)


def load_settings() -> ConstructionPermitSettings:
    """The browser URLs a deployment gives every service (sandbox/bootstrap.py) unless our own are set: the
    permit's QR code and verification link use the public URL, so that a phone in the room can open them."""
    overrides = identity_overrides("CONSTRUCTION_PERMIT_")
    for own, shared, field in (
        ("CONSTRUCTION_PERMIT_PAYMENTS_URL", "SANDBOX_PAYMENTS_URL", "payments_url"),
        ("CONSTRUCTION_PERMIT_PUBLIC_URL", "SANDBOX_CONSTRUCTION_PERMIT_URL", "public_url"),
    ):
        if own not in os.environ and os.environ.get(shared):
            overrides[field] = os.environ[shared]
    return ConstructionPermitSettings(**overrides)
