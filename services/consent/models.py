"""Every table of the Consent service, imported so `Base.metadata` is complete (migrations, tests)."""

from services.consent.agreements.models import DataAgreement
from services.consent.db import Base
from services.consent.individuals.models import Individual
from services.consent.policies.models import Policy
from services.consent.proofs.models import IndividualSubject
from services.consent.records.models import ConsentRecord
from services.consent.revisions.models import Revision
from services.consent.signatures.models import Signature
from services.consent.verification.models import VerificationLog
from services.consent.webhooks.models import Webhook, WebhookDelivery

__all__ = [
    "Base",
    "DataAgreement",
    "Individual",
    "IndividualSubject",
    "Policy",
    "ConsentRecord",
    "Revision",
    "Signature",
    "VerificationLog",
    "Webhook",
    "WebhookDelivery",
]
