"""The individual's will: verify their proof and bind it to the Consent individual it is presented for.

`IndividualProofs.evidence(session, token, individual)` returns what is kept as evidence, or raises
`ProofRefused` (the caller gets a 403 saying why) or `IdentityUnreachable` (503, retry). The binding
individual <-> (OIDC client, sub) is remembered once Identity said yes.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.consent.individuals.models import Individual
from services.consent.proofs.identity import IdentitySubjects
from services.consent.proofs.models import IndividualSubject
from services.consent.proofs.tokens import IdentityUnreachable, ProofRefused, ProofVerifier


class IndividualProofs:
    def __init__(self, verifier: ProofVerifier, subjects: IdentitySubjects | None):
        self.verifier = verifier
        self.subjects = subjects

    def evidence(self, session: Session, token: str, individual: Individual) -> dict[str, Any]:
        proof = self.verifier.verify(token)
        if not _known(session, individual.id, proof.audience, proof.subject):
            if not individual.external_id:
                raise ProofRefused("the individual has no externalId (UIN or VID) the Identity BB could confirm")
            if self.subjects is None:
                raise IdentityUnreachable("this Consent service has no IM client to ask the Identity BB")
            if not self.subjects.matches(individual.external_id, proof.audience, proof.subject):
                raise ProofRefused("the proof is not for this individual (the Identity BB says so)")
            session.add(IndividualSubject(individual_id=individual.id, client_id=proof.audience, sub=proof.subject))
            session.flush()
        return proof.evidence()


def forget_subjects(session: Session, individual_id: str) -> None:
    """The individual now names another person (its externalId changed): earlier answers no longer hold."""
    for row in session.scalars(select(IndividualSubject).where(IndividualSubject.individual_id == individual_id)):
        session.delete(row)


def _known(session: Session, individual_id: str, client_id: str, sub: str) -> bool:
    return (
        session.scalar(
            select(IndividualSubject.id).where(
                IndividualSubject.individual_id == individual_id,
                IndividualSubject.client_id == client_id,
                IndividualSubject.sub == sub,
            )
        )
        is not None
    )
