"""Who is calling, and what they may do (README, "Who may do what").

A caller is the operator (`Authorization: Bearer <CONSENT_ADMIN_TOKEN>`), or an application the IM vouches
for, `INSTANCE/CLASS/MEMBER/APPLICATION`, acting for its member `INSTANCE/CLASS/MEMBER`: the id a data
agreement names as `controller.id`, a policy as its owner, an individual as who registered it, a webhook as
its owner. A member acts on its own objects only. A change that expresses an individual's will needs, besides,
the individual's proof (`X-ConsentBB-Individual-Proof`, see `proofs/`); the operator may act without one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from services.common.keys import load_or_create_secret
from services.consent.errors import forbidden, unavailable
from services.consent.individuals.models import Individual
from services.consent.proofs.service import IndividualProofs
from services.consent.proofs.tokens import IdentityUnreachable, ProofRefused
from services.consent.settings import ConsentSettings

PROOF_HEADER = "X-ConsentBB-Individual-Proof"
OPERATOR = "operator"


def load_admin_token(settings: ConsentSettings) -> str:
    return settings.admin_token or load_or_create_secret(settings.data_dir / "secrets", "consent-admin-token")


def member_of(client: str) -> str:
    """`SANDBOX/GOV/SOCIAL-WELFARE/USCT` -> `SANDBOX/GOV/SOCIAL-WELFARE`."""
    return "/".join(client.split("/")[:3])


@dataclass(frozen=True)
class Principal:
    client: str | None  # the IM client application, when the call came through the IM
    operator: bool

    @property
    def member(self) -> str | None:
        return member_of(self.client) if self.client else None

    @property
    def label(self) -> str:
        """For `authorizedByOther`, the verification log and webhook delegation records."""
        return self.client or (OPERATOR if self.operator else "direct")

    @property
    def scope(self) -> str | None:
        """The member whose objects this caller sees, or None for all of them (the operator)."""
        return None if self.operator else self.member

    def acts_for(self, member_id: str | None) -> bool:
        return self.operator or (self.member is not None and self.member == member_id)

    def require(self, member_id: str | None, what: str) -> None:
        """403 unless the caller is the operator or acts for `member_id` (`what` names the object's role)."""
        if not self.acts_for(member_id):
            raise forbidden(f"only {what} ({member_id or 'none recorded'}) or the operator may do this; {self._who()}")

    def _who(self) -> str:
        return f"the caller acts for {self.member}" if self.member else "the caller is not known through the IM"


class Access:
    """What one request may do: its principal, and the individual's proof it carries (if any)."""

    def __init__(self, principal: Principal, proofs: IndividualProofs | None, proof: str | None):
        self.principal = principal
        self.proofs = proofs
        self.proof = proof

    @property
    def by(self) -> str:
        return self.principal.label

    def control(self, controller_id: str | None) -> None:
        self.principal.require(controller_id, "the data agreement's controller")

    def individual_will(self, session: Session, individual: Individual, action: str) -> dict[str, Any] | None:
        """The evidence of the individual's will to `action`; 403 without a valid proof (the operator needs none)."""
        if not self.proof:
            if self.principal.operator:
                return None
            raise forbidden(
                f"to {action} needs the individual's proof: header {PROOF_HEADER} with an ID token or signed "
                "userinfo JWT that the Identity BB issued for this individual"
            )
        if self.proofs is None:
            raise unavailable("individual proofs cannot be checked by this service")
        try:
            return self.proofs.evidence(session, self.proof, individual)
        except ProofRefused as exc:
            raise forbidden(f"{PROOF_HEADER} refused: {exc}") from exc
        except IdentityUnreachable as exc:
            raise unavailable(f"the individual's proof could not be checked: {exc}; retry") from exc
