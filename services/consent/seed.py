"""Demo-world seed (idempotent): the sandbox's policies, data agreements and individuals.

Stable ids use cases can reference:
- `pol-sandbox-social-protection`, `pol-sandbox-municipal-services`: policies
- `da-usct-enrollment`: consent to share enrolment data with the Ministry of Social Welfare's USCT programme
- `da-construction-permit-owner`: a property owner's consent to share parcel and identity data with the
  municipality for a construction permit
- one Individual per demo resident: `externalId` = UIN, `externalIdType` = `uin`, id = uuid5 of the UIN
"""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from services.common import demo_world
from services.consent.agreements import service as agreements
from services.consent.agreements.models import DataAgreement
from services.consent.agreements.schemas import DataAgreementIn
from services.consent.individuals import service as individuals
from services.consent.individuals.models import Individual
from services.consent.individuals.schemas import IndividualIn
from services.consent.policies import service as policies
from services.consent.policies.models import Policy
from services.consent.policies.schemas import PolicyIn
from services.consent.settings import ConsentSettings
from services.consent.signatures.service import Signer

USCT_AGREEMENT = "da-usct-enrollment"
PERMIT_AGREEMENT = "da-construction-permit-owner"
SOCIAL_POLICY = "pol-sandbox-social-protection"
MUNICIPAL_POLICY = "pol-sandbox-municipal-services"
SEEDER = "seed"
_NAMESPACE = uuid.UUID("0b6f7c1e-7a4e-4d0e-9a51-6f1f3c0c5e01")

POLICIES = {
    SOCIAL_POLICY: PolicyIn(
        name="Sandbox Republic Social Protection Data Policy",
        version="1.0",
        url="https://sandbox.localhost/policies/social-protection/1.0",
        jurisdiction="Sandbox Republic",
        industrySector="Public administration - social protection",
        dataRetentionPeriodDays=1825,
        geographicRestriction="Sandbox Republic",
        storageLocation="Sandbox Republic government data centre",
    ),
    MUNICIPAL_POLICY: PolicyIn(
        name="Municipality of Sandbox City Permits Data Policy",
        version="1.0",
        url="https://sandbox.localhost/policies/municipal-permits/1.0",
        jurisdiction="Sandbox Republic",
        industrySector="Public administration - construction permits",
        dataRetentionPeriodDays=3650,
        geographicRestriction="Sandbox Republic",
        storageLocation="Sandbox City municipal records system",
    ),
}


def _attr(name: str, category: str, sensitivity: str = "personal", description: str | None = None) -> dict:
    return {
        "id": f"attr-{name}",
        "name": name,
        "sensitivity": sensitivity,
        "category": category,
        "description": description,
    }


def policy_owners(settings: ConsentSettings) -> dict[str, str]:
    """A seeded policy belongs to the controller of the agreements that use it."""
    return {SOCIAL_POLICY: settings.welfare_member, MUNICIPAL_POLICY: settings.municipality_member}


def agreements_of(settings: ConsentSettings) -> dict[str, DataAgreementIn]:
    return {
        USCT_AGREEMENT: DataAgreementIn(
            version="1.0.0",
            controller={
                "id": settings.welfare_member,
                "name": "Ministry of Social Welfare",
                "url": "https://sandbox.localhost/social-welfare",
            },
            policy=SOCIAL_POLICY,
            purpose=(
                "Enrolment in the Unconditional Social Cash Transfer (USCT) programme: the National Identity "
                "Authority shares the listed identity data with the Ministry of Social Welfare to verify "
                "eligibility, register the beneficiary and pay the transfer to their payment account."
            ),
            lawfulBasis="consent",
            dataUse="data_using_service",
            dpia="DPIA-USCT-2024-01: identity and contact data, no special categories; retention 5 years after the "
            "last payment (policy dataRetentionPeriodDays=1825).",
            active=True,
            forgettable=False,
            lifecycle="complete",
            dataAttributes=[
                _attr("uin", "identifier", "sensitive", "Unique identification number"),
                _attr("name", "identity"),
                _attr("birthdate", "identity"),
                _attr("gender", "identity"),
                _attr("address", "contact"),
                _attr("phone_number", "contact"),
                _attr("email", "contact"),
                _attr("payment_account", "financial", "sensitive", "Account the transfer is paid to"),
            ],
        ),
        PERMIT_AGREEMENT: DataAgreementIn(
            version="1.0.0",
            controller={
                "id": settings.municipality_member,
                "name": "Municipality of Sandbox City",
                "url": "https://sandbox.localhost/municipality",
            },
            policy=MUNICIPAL_POLICY,
            purpose=(
                "Construction permit: the property owner allows the Municipality of Sandbox City to use their "
                "identity data and the land registry's parcel and ownership data to process a construction "
                "permit application on their parcel."
            ),
            lawfulBasis="consent",
            dataUse="data_using_service",
            dpia="DPIA-PERMIT-2024-02: identity, contact and property data; retention 10 years (building records).",
            active=True,
            forgettable=True,
            lifecycle="complete",
            dataAttributes=[
                _attr("uin", "identifier", "sensitive", "Unique identification number of the owner"),
                _attr("name", "identity"),
                _attr("address", "contact"),
                _attr("parcel_id", "property", "personal", "Cadastral parcel number"),
                _attr("ownership_record", "property", "personal", "Land registry ownership entry"),
            ],
        ),
    }


def individual_id_for(uin: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, uin))


def seed(session: Session, signer: Signer, settings: ConsentSettings) -> None:
    owners = policy_owners(settings)
    for policy_id, data in POLICIES.items():
        policy = session.get(Policy, policy_id)
        if policy is None:
            policies.create(session, data, SEEDER, policy_id=policy_id, owner=owners[policy_id])
        elif policy.owner is None:
            policy.owner = owners[policy_id]  # seeded before policies had owners
    for agreement_id, data in agreements_of(settings).items():
        if session.get(DataAgreement, agreement_id) is None:
            agreements.create(session, signer, data, SEEDER, agreement_id=agreement_id)
    for resident in demo_world.residents():
        individual_id = individual_id_for(resident["uin"])
        if session.get(Individual, individual_id) is None:
            individuals.create(
                session,
                IndividualIn(
                    externalId=resident["uin"],
                    externalIdType="uin",
                    identityProviderId=settings.identity_provider_id,
                ),
                individual_id=individual_id,
            )
