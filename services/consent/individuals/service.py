"""Individuals: the Consent BB's handle on a person, linked to an external (foundational/functional) id."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from services.consent.errors import bad_request, not_found
from services.consent.individuals.models import Individual
from services.consent.individuals.schemas import IndividualIn


def as_api(individual: Individual) -> dict[str, Any]:
    return {
        "id": individual.id,
        "externalId": individual.external_id,
        "externalIdType": individual.external_id_type,
        "identityProviderId": individual.identity_provider_id,
    }


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


def create(session: Session, data: IndividualIn, individual_id: str | None = None) -> Individual:
    _ensure_unique(session, data, None)
    individual = Individual(
        **({"id": individual_id} if individual_id else {}),
        external_id=data.externalId,
        external_id_type=data.externalIdType,
        identity_provider_id=data.identityProviderId,
    )
    session.add(individual)
    session.flush()
    return individual


def update(session: Session, individual_id: str, data: IndividualIn) -> Individual:
    individual = session.get(Individual, individual_id)
    if individual is None:
        raise not_found("individual", individual_id)
    _ensure_unique(session, data, individual.id)
    individual.external_id = data.externalId
    individual.external_id_type = data.externalIdType
    individual.identity_provider_id = data.identityProviderId
    session.flush()
    return individual


def get(session: Session, individual_id: str) -> Individual:
    individual = session.get(Individual, individual_id)
    if individual is None:
        raise not_found("individual", individual_id)
    return individual


def listing(
    session: Session, offset: int, limit: int, external_id: str | None = None, external_id_type: str | None = None
) -> list[Individual]:
    query = select(Individual)
    if external_id is not None:
        query = query.where(Individual.external_id == external_id)
    if external_id_type is not None:
        query = query.where(Individual.external_id_type == external_id_type)
    return list(session.scalars(query.order_by(Individual.created_at, Individual.id).offset(offset).limit(limit)))


def _ensure_unique(session: Session, data: IndividualIn, own_id: str | None) -> None:
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
        raise bad_request("an individual with this externalId and externalIdType already exists", individualId=existing)
