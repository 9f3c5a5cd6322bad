"""Policies: create, update and delete each write a revision; agreements keep pointing at the policy
revision they were made against, so updating a policy never changes an existing agreement. A policy
belongs to the member that created it (`owner`, an extension, not revisioned): only it or the operator
changes or deletes it; anyone reads it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.consent.errors import bad_request, not_found
from services.consent.policies.models import Policy
from services.consent.policies.schemas import PolicyIn
from services.consent.revisions import service as revisions
from services.consent.revisions.models import Revision
from services.consent.schemas import present
from services.consent.webhooks import events

if TYPE_CHECKING:
    from services.consent.access import Principal

FIELDS = {
    "name": "name",
    "version": "version",
    "url": "url",
    "jurisdiction": "jurisdiction",
    "industrySector": "industry_sector",
    "dataRetentionPeriodDays": "data_retention_period_days",
    "geographicRestriction": "geographic_restriction",
    "storageLocation": "storage_location",
}


def serialize(policy: Policy) -> dict[str, Any]:
    """The revisioned data of a policy (everything but its id)."""
    data = {key: getattr(policy, attr) for key, attr in FIELDS.items()}
    data["deleted"] = policy.deleted
    return data


def as_api(policy_id: str, data: dict[str, Any]) -> dict[str, Any]:
    return present({"id": policy_id, **{k: v for k, v in data.items() if k != "deleted"}})


def _owned(policy: Policy, data: dict[str, Any]) -> dict[str, Any]:
    """The policy endpoints' shape: the spec's fields plus `owner` (extension)."""
    return {**as_api(policy.id, data), "owner": policy.owner}


def get_live(session: Session, policy_id: str, *, for_update: bool = False) -> Policy:
    """The policy unless deleted; `for_update` locks its row (PostgreSQL) so concurrent changes queue up."""
    policy = session.get(Policy, policy_id, with_for_update=for_update or None)
    if policy is None or policy.deleted:
        raise not_found("policy", policy_id)
    return policy


def read(session: Session, policy_id: str, revision_id: str | None = None) -> tuple[dict, Revision]:
    """The policy now, or as it was at one of its revisions."""
    if revision_id:
        revision = revisions.get(session, revision_id)
        if revision is None or revision.schema_name != revisions.POLICY or revision.object_id != policy_id:
            raise not_found("revision of this policy", revision_id)
        policy = session.get(Policy, policy_id)
        return _owned(policy, revisions.object_data(revision)), revision
    policy = get_live(session, policy_id)
    return _owned(policy, serialize(policy)), revisions.head(session, revisions.POLICY, policy.id)


def create(
    session: Session, data: PolicyIn, by: str, policy_id: str | None = None, owner: str | None = None
) -> tuple[dict, Revision]:
    policy = Policy(**({"id": policy_id} if policy_id else {}), owner=owner)
    _apply(policy, data)
    session.add(policy)
    session.flush()
    revision = revisions.append(session, revisions.POLICY, policy.id, serialize(policy), by_other=by)
    return _owned(policy, serialize(policy)), revision


def get_owned(session: Session, policy_id: str, who: Principal | None) -> Policy:
    """The live policy, locked for a change that only its owner or the operator (or `who=None`, the seed) makes."""
    policy = get_live(session, policy_id, for_update=True)
    if who is not None:
        who.require(policy.owner, "the policy's owner")
    return policy


def update(
    session: Session, policy_id: str, data: PolicyIn, by: str, who: Principal | None = None
) -> tuple[dict, Revision]:
    policy = get_owned(session, policy_id, who)
    _apply(policy, data)
    session.flush()
    revision = revisions.append(session, revisions.POLICY, policy.id, serialize(policy), by_other=by)
    events.emit(session, events.POLICY_UPDATED, {"policyId": policy.id, "revisionId": revision.id}, policy.owner)
    return _owned(policy, serialize(policy)), revision


def delete(session: Session, policy_id: str, by: str, who: Principal | None = None) -> Revision:
    from services.consent.agreements.models import DataAgreement  # agreements depend on policies

    policy = get_owned(session, policy_id, who)
    users = session.scalars(
        select(DataAgreement.id).where(
            DataAgreement.policy_id == policy_id, DataAgreement.active.is_(True), DataAgreement.deleted.is_(False)
        )
    ).all()
    if users:
        raise bad_request("the policy is used by active data agreements", dataAgreements=sorted(users))
    policy.deleted = True
    session.flush()
    revision = revisions.append(session, revisions.POLICY, policy.id, serialize(policy), by_other=by)
    events.emit(session, events.POLICY_DELETED, {"policyId": policy.id, "revisionId": revision.id}, policy.owner)
    return revision


def listing(session: Session, offset: int, limit: int, revision_id: str | None = None) -> list[dict]:
    if revision_id:
        revision = revisions.get(session, revision_id)
        if revision is None or revision.schema_name != revisions.POLICY:
            raise not_found("policy revision", revision_id)
        policy = session.get(Policy, revision.object_id)
        return [_owned(policy, revisions.object_data(revision))]
    rows = session.scalars(
        select(Policy)
        .where(Policy.deleted.is_(False))
        .order_by(Policy.created_at, Policy.id)
        .offset(offset)
        .limit(limit)
    )
    return [_owned(p, serialize(p)) for p in rows]


def _apply(policy: Policy, data: PolicyIn) -> None:
    for key, attr in FIELDS.items():
        setattr(policy, attr, getattr(data, key))
