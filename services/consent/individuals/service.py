"""Individuals: the Consent BB's handle on a person, linked to an external (foundational/functional) id.

A member sees the individuals it registered and those with a record on one of its agreements; it updates
only those it registered. The operator sees and updates all. Resolving a reference for a record on one's
own agreement (`resolve`) is not restricted: that is how a controller asks a known person for consent.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from services.consent.agreements.models import DataAgreement
from services.consent.errors import bad_request, forbidden, not_found
from services.consent.individuals.models import Individual
from services.consent.individuals.schemas import IndividualIn
from services.consent.proofs.service import forget_subjects
from services.consent.records.models import ConsentRecord
from services.consent.schemas import present

if TYPE_CHECKING:
    from services.consent.access import Principal


def as_api(individual: Individual) -> dict[str, Any]:
    return present(
        {
            "id": individual.id,
            "externalId": individual.external_id,
            "externalIdType": individual.external_id_type,
            "identityProviderId": individual.identity_provider_id,
        }
    )


def resolve(session: Session, ref: str | None) -> Individual:
    """An individual by its id, or else by its externalId (what GovStack clients often hold)."""
    if not ref:
        raise bad_request("the individual is required (header X-ConsentBB-IndividualId or query individualId)")
    individual = session.get(Individual, ref)
    if individual is None:
        matches = session.scalars(select(Individual).where(Individual.external_id == ref).limit(2)).all()
        individual = matches[0] if len(matches) == 1 else None
    if individual is None:
        raise not_found("individual", ref)
    return individual


def resolve_many(session: Session, refs: Iterable[str]) -> dict[str, str]:
    """Map each reference (id or externalId) to an individual id, in one query; unknown ones are left out."""
    refs = list(dict.fromkeys(refs))
    if not refs:
        return {}
    rows = session.execute(
        select(Individual.id, Individual.external_id).where(
            or_(Individual.id.in_(refs), Individual.external_id.in_(refs))
        )
    ).all()
    by_id = {row.id: row.id for row in rows}
    by_external: dict[str, str | None] = {}
    for row in rows:
        if row.external_id is not None:
            by_external[row.external_id] = None if row.external_id in by_external else row.id
    out = {}
    for ref in refs:
        found = by_id.get(ref) or by_external.get(ref)
        if found:
            out[ref] = found
    return out


def visible_to(member: str) -> ColumnElement[bool]:
    """Individuals `member` registered, or with a record on one of its agreements."""
    own_agreements = select(DataAgreement.id).where(DataAgreement.controller_id == member)
    on_own = select(ConsentRecord.individual_id).where(ConsentRecord.data_agreement_id.in_(own_agreements))
    return or_(Individual.registered_by == member, Individual.id.in_(on_own))


def create(
    session: Session,
    data: IndividualIn,
    individual_id: str | None = None,
    registered_by: str | None = None,
    who: Principal | None = None,
) -> Individual:
    _ensure_unique(session, data, None, who)
    individual = Individual(
        **({"id": individual_id} if individual_id else {}),
        external_id=data.externalId,
        external_id_type=data.externalIdType,
        identity_provider_id=data.identityProviderId,
        registered_by=registered_by,
    )
    session.add(individual)
    session.flush()
    return individual


def update(session: Session, individual_id: str, data: IndividualIn, who: Principal | None = None) -> Individual:
    individual = session.get(Individual, individual_id)
    if individual is None:
        raise not_found("individual", individual_id)
    if who is not None:
        who.require(individual.registered_by, "the member that registered the individual")
    _ensure_unique(session, data, individual.id, who)
    if (data.externalId, data.externalIdType) != (individual.external_id, individual.external_id_type):
        if who is not None and not who.operator and _on_others_agreements(session, individual.id, who.member):
            raise forbidden(
                "the individual has consent records on other controllers' agreements: changing whom it names "
                "would change whose consent those are; only the operator may"
            )
        forget_subjects(session, individual.id)
    individual.external_id = data.externalId
    individual.external_id_type = data.externalIdType
    individual.identity_provider_id = data.identityProviderId
    session.flush()
    return individual


def get(session: Session, individual_id: str, who: Principal | None = None) -> Individual:
    individual = session.get(Individual, individual_id)
    if individual is None:
        raise not_found("individual", individual_id)
    if who is not None and not _sees(session, who, individual):
        raise forbidden(
            f"individual {individual_id!r} was registered by another member and has no record on your "
            f"agreements; the caller acts for {who.member}"
        )
    return individual


def _on_others_agreements(session: Session, individual_id: str, member: str | None) -> bool:
    others = select(DataAgreement.id).where(DataAgreement.controller_id.is_distinct_from(member))
    query = select(ConsentRecord.id).where(
        ConsentRecord.individual_id == individual_id, ConsentRecord.data_agreement_id.in_(others)
    )
    return session.scalar(query.limit(1)) is not None


def _sees(session: Session, who: Principal, individual: Individual) -> bool:
    if who.scope is None:
        return True
    query = select(Individual.id).where(Individual.id == individual.id, visible_to(who.scope))
    return session.scalar(query) is not None


def listing(
    session: Session,
    offset: int,
    limit: int,
    external_id: str | None = None,
    external_id_type: str | None = None,
    member: str | None = None,
) -> list[Individual]:
    """Individuals, oldest first; with `member`, only those it sees."""
    query = select(Individual) if member is None else select(Individual).where(visible_to(member))
    if external_id is not None:
        query = query.where(Individual.external_id == external_id)
    if external_id_type is not None:
        query = query.where(Individual.external_id_type == external_id_type)
    return list(session.scalars(query.order_by(Individual.created_at, Individual.id).offset(offset).limit(limit)))


def _ensure_unique(session: Session, data: IndividualIn, own_id: str | None, who: Principal | None) -> None:
    if data.externalId is None:
        return
    query = select(Individual.id).where(Individual.external_id == data.externalId)
    query = query.where(
        Individual.external_id_type == data.externalIdType
        if data.externalIdType is not None
        else Individual.external_id_type.is_(None)
    )
    existing = session.scalars(query).first()
    if existing is not None and existing != own_id:
        message = "an individual with this externalId and externalIdType already exists"
        if who is not None and not _sees(session, who, session.get(Individual, existing)):
            raise bad_request(message)  # another member's: its id is not for this caller
        raise bad_request(message, individualId=existing)
