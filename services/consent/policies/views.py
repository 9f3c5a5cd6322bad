from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from services.consent import docs_models
from services.consent.dependencies import DB, Paging, Who
from services.consent.docs_models import doc
from services.consent.policies import service
from services.consent.policies.schemas import PolicyBody
from services.consent.revisions import service as revisions

router = APIRouter()


@router.post(
    "/config/policy/", tags=["config"], operation_id="configPolicyCreate", responses=doc(docs_models.PolicyAndRevision)
)
def create_policy(body: PolicyBody, session: DB, who: Who) -> dict:
    """Create a Policy; returns it with its first Revision. It belongs to the calling member (`owner`)."""
    policy, revision = service.create(session, body.policy, who.label, owner=who.scope)
    return {"policy": policy, "revision": revisions.to_api(revision)}


@router.get(
    "/config/policy/{policyId}/",
    tags=["config"],
    operation_id="configPolicyRead",
    responses=doc(docs_models.PolicyAndRevision),
)
def read_policy(policyId: str, session: DB, revisionId: str | None = None) -> dict:
    """The policy and its latest revision, or the policy as of `revisionId`."""
    policy, revision = service.read(session, policyId, revisionId)
    return {"policy": policy, "revision": revisions.to_api(revision)}


@router.put(
    "/config/policy/{policyId}/",
    tags=["config"],
    operation_id="configPolicyUpdate",
    responses=doc(docs_models.PolicyAndRevision),
)
def update_policy(policyId: str, body: PolicyBody, session: DB, who: Who) -> dict:
    """Update a policy (new revision); agreements keep the policy revision they point to. Its owner only."""
    policy, revision = service.update(session, policyId, body.policy, who.label, who)
    return {"policy": policy, "revision": revisions.to_api(revision)}


@router.delete(
    "/config/policy/{policyId}/",
    tags=["config"],
    operation_id="configPolicyDelete",
    responses=doc(docs_models.RevisionOnly),
)
def delete_policy(policyId: str, session: DB, who: Who) -> dict:
    """Delete a policy (a final revision records it); refused while an active agreement uses it. Its owner only."""
    return {"revision": revisions.to_api(service.delete(session, policyId, who.label, who))}


@router.get(
    "/config/policy/{policyId}/revisions/",
    tags=["config"],
    operation_id="configPolicyRevisionsList",
    responses=doc(docs_models.PolicyRevisions),
)
def policy_revisions(policyId: str, session: DB, paging: Paging) -> dict:
    """The current policy (`policy`) and its revision history, oldest first (`revisions`, extension)."""
    policy, _ = service.read(session, policyId)
    history = revisions.history(session, revisions.POLICY, policyId, paging.offset, paging.limit)
    return {"policy": policy, "revisions": [revisions.to_api(r) for r in history]}


@router.get("/config/policies/", tags=["config"], operation_id="configPolicyList", responses=doc(docs_models.Policies))
def list_policies(session: DB, paging: Paging, revisionId: Annotated[str | None, Query()] = None) -> dict:
    return {"policies": service.listing(session, paging.offset, paging.limit, revisionId)}


@router.get(
    "/service/policy/{policyId}/",
    tags=["service"],
    operation_id="servicePolicyRead",
    responses=doc(docs_models.PolicyAndRevision),
)
def service_read_policy(policyId: str, session: DB, revisionId: str | None = None) -> dict:
    """The policy (latest, or as of the revision an agreement presents)."""
    policy, revision = service.read(session, policyId, revisionId)
    return {"policy": policy, "revision": revisions.to_api(revision)}
