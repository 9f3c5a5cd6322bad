from __future__ import annotations

from fastapi import APIRouter, Depends

from services.consent import docs_models
from services.consent.agreements import service
from services.consent.agreements.schemas import DataAgreementBody
from services.consent.dependencies import DB, OrgSigner, Paging, Who, wake_webhooks
from services.consent.docs_models import doc
from services.consent.revisions import service as revisions

router = APIRouter()


@router.post(
    "/config/data-agreement/",
    tags=["config"],
    operation_id="configDataAgreementCreate",
    dependencies=[Depends(wake_webhooks)],
    responses=doc(docs_models.AgreementAndRevision),
)
def create_agreement(body: DataAgreementBody, session: DB, who: Who, key: OrgSigner) -> dict:
    """Create a DataAgreement (its first revision is signed with the organisation's key). `controller.id` must
    be the calling member (INSTANCE/CLASS/MEMBER); the operator may name any controller."""
    agreement, revision = service.create(session, key, body.dataAgreement, who.label, who=who)
    return {"dataAgreement": agreement, "revision": revisions.to_api(revision)}


@router.get(
    "/config/data-agreement/{dataAgreementId}/",
    tags=["config"],
    operation_id="configDataAgreementRead",
    responses=doc(docs_models.AgreementAndRevision),
)
def read_agreement(dataAgreementId: str, session: DB, who: Who, revisionId: str | None = None) -> dict:
    """The latest version of an agreement (or, extension, the one at `revisionId`); its controller only."""
    service.controlled(session, dataAgreementId, who)
    if revisionId:
        agreement, revision = service.read_revision(session, dataAgreementId, revisionId)
    else:
        agreement, revision = service.read(session, dataAgreementId)
    return {"dataAgreement": agreement, "revision": revisions.to_api(revision)}


@router.put(
    "/config/data-agreement/{dataAgreementId}/",
    tags=["config"],
    operation_id="configDataAgreementUpdate",
    dependencies=[Depends(wake_webhooks)],
    responses=doc(docs_models.AgreementAndRevision),
)
def update_agreement(dataAgreementId: str, body: DataAgreementBody, session: DB, who: Who, key: OrgSigner) -> dict:
    """A new revision of the agreement; its controller only, and the controller stays the same member."""
    agreement, revision = service.update(session, key, dataAgreementId, body.dataAgreement, who.label, who=who)
    return {"dataAgreement": agreement, "revision": revisions.to_api(revision)}


@router.delete(
    "/config/data-agreement/{dataAgreementId}/",
    tags=["config"],
    operation_id="configDataAgreementDelete",
    dependencies=[Depends(wake_webhooks)],
    responses=doc(docs_models.RevisionOnly),
)
def delete_agreement(dataAgreementId: str, session: DB, who: Who, key: OrgSigner) -> dict:
    """Delete (terminate) an agreement: a final revision records it; existing consent stops verifying."""
    return {"revision": revisions.to_api(service.delete(session, key, dataAgreementId, who.label, who=who))}


@router.get(
    "/config/data-agreements/",
    tags=["config"],
    operation_id="configDataAgreementList",
    responses=doc(docs_models.Agreements),
)
def list_agreements(session: DB, paging: Paging, who: Who) -> dict:
    """The caller's own agreements. The spec names this list `dataAgreement` here and `dataAgreements`
    elsewhere: both keys are sent."""
    items = service.listing(session, paging.offset, paging.limit, controller=who.scope)
    return {"dataAgreements": items, "dataAgreement": items}


@router.get(
    "/service/data-agreement/{dataAgreementId}/",
    tags=["service"],
    operation_id="serviceDataAgreementRead",
    responses=doc(docs_models.AgreementAndRevision),
)
def service_read_agreement(dataAgreementId: str, session: DB, revisionId: str | None = None) -> dict:
    if revisionId:
        agreement, revision = service.read_revision(session, dataAgreementId, revisionId)
    else:
        agreement, revision = service.read(session, dataAgreementId)
    return {"dataAgreement": agreement, "revision": revisions.to_api(revision)}


@router.get(
    "/service/verification/data-agreements/",
    tags=["service"],
    operation_id="serviceVerificationDataAgreementList",
    responses=doc(docs_models.Agreements),
)
def verification_agreements(session: DB, paging: Paging, who: Who) -> dict:
    """Active agreements the caller can verify consent against (as their controller or a data consumer)."""
    items = service.listing(session, paging.offset, paging.limit, only_active=True, verifier=who)
    return {"dataAgreements": items}


@router.get(
    "/config/data-agreement/{dataAgreementId}/revisions/",
    tags=["config"],
    operation_id="configDataAgreementRevisionsList",
)
def agreement_revisions(dataAgreementId: str, session: DB, paging: Paging, who: Who) -> dict:
    """Extension: the agreement's revision history, oldest first; its controller only."""
    agreement, _ = service.read(session, dataAgreementId, include_deleted=True, who=who)
    history = revisions.history(session, revisions.DATA_AGREEMENT, dataAgreementId, paging.offset, paging.limit)
    return {"dataAgreement": agreement, "revisions": [revisions.to_api(r) for r in history]}
