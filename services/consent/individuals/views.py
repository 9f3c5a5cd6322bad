from __future__ import annotations

from fastapi import APIRouter

from services.consent import docs_models
from services.consent.dependencies import DB, Paging, Who
from services.consent.docs_models import doc
from services.consent.individuals import service
from services.consent.individuals.schemas import IndividualBody

router = APIRouter()


@router.post(
    "/config/individual/",
    tags=["config"],
    operation_id="configIndividualCreate",
    responses=doc(docs_models.IndividualOnly),
)
def config_create(body: IndividualBody, session: DB, who: Who) -> dict:
    """Register an individual; the calling member sees and updates it from then on."""
    return {"individual": service.as_api(service.create(session, body.individual, registered_by=who.scope, who=who))}


@router.get(
    "/config/individual/{individualId}/",
    tags=["config"],
    operation_id="configIndividualRead",
    responses=doc(docs_models.IndividualOnly),
)
def config_read(individualId: str, session: DB, who: Who) -> dict:
    """An individual the caller registered or has a record of on one of its agreements."""
    return {"individual": service.as_api(service.get(session, individualId, who))}


@router.get(
    "/config/individuals/", tags=["config"], operation_id="configIndividualList", responses=doc(docs_models.Individuals)
)
def config_list(
    session: DB, paging: Paging, who: Who, externalId: str | None = None, externalIdType: str | None = None
) -> dict:
    """The individuals the caller sees (all of them for the operator)."""
    rows = service.listing(session, paging.offset, paging.limit, externalId, externalIdType, who.scope)
    return {"individuals": [service.as_api(i) for i in rows]}


@router.post(
    "/service/individual/",
    tags=["service"],
    operation_id="serviceIndividualCreate",
    responses=doc(docs_models.IndividualOnly),
)
def service_create(body: IndividualBody, session: DB, who: Who) -> dict:
    """Register an individual (400 if the externalId + externalIdType pair is already known)."""
    return {"individual": service.as_api(service.create(session, body.individual, registered_by=who.scope, who=who))}


@router.get(
    "/service/individual/{individualId}/",
    tags=["service"],
    operation_id="serviceIndividualRead",
    responses=doc(docs_models.IndividualOnly),
)
def service_read(individualId: str, session: DB, who: Who) -> dict:
    """An individual the caller registered or has a record of on one of its agreements."""
    return {"individual": service.as_api(service.get(session, individualId, who))}


@router.put(
    "/service/individual/{individualId}/",
    tags=["service"],
    operation_id="serviceIndividualUpdate",
    responses=doc(docs_models.IndividualOnly),
)
def service_update(individualId: str, body: IndividualBody, session: DB, who: Who) -> dict:
    """Change an individual's external id; only the member that registered it (or the operator)."""
    return {"individual": service.as_api(service.update(session, individualId, body.individual, who))}


@router.get(
    "/service/individuals/",
    tags=["service"],
    operation_id="serviceIndividualList",
    responses=doc(docs_models.Individuals),
)
def service_list(
    session: DB, paging: Paging, who: Who, externalId: str | None = None, externalIdType: str | None = None
) -> dict:
    """Individuals the caller sees, optionally only those with an externalId (how a registration finds one)."""
    rows = service.listing(session, paging.offset, paging.limit, externalId, externalIdType, who.scope)
    return {"individuals": [service.as_api(i) for i in rows]}
