"""All tables of the Identity service (imported so Alembic sees the whole metadata)."""

from services.identity.base import Base
from services.identity.clients.models import OidcClient
from services.identity.credentials.models import ResidentEvent
from services.identity.enrollment.models import Enrollment
from services.identity.identities.models import Alias, Identity, IdentityChange, Vid
from services.identity.linked.models import WalletBinding, WalletPartner
from services.identity.notifications.models import Notification
from services.identity.oidc.models import AuthTransaction, IdentitySession, UsedAssertion
from services.identity.verification.models import VerificationQuestion, VerificationRecord

__all__ = [
    "Alias",
    "AuthTransaction",
    "Base",
    "Enrollment",
    "Identity",
    "IdentityChange",
    "IdentitySession",
    "Notification",
    "OidcClient",
    "ResidentEvent",
    "UsedAssertion",
    "Vid",
    "VerificationQuestion",
    "VerificationRecord",
    "WalletBinding",
    "WalletPartner",
]
