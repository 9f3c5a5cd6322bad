"""Data agreements: what personal data an organisation processes, for which purpose, under which
lawful basis and policy. Every change writes a revision, signed by the organisation's key. An agreement
belongs to its controller (`controller.id`, an IM member): only it or the operator changes it, and the
members it names as `dataConsumers` (extension) may verify consent to it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.consent.agreements.models import DataAgreement
from services.consent.agreements.schemas import DataAgreementIn
from services.consent.db import new_id
from services.consent.errors import bad_request, forbidden, not_found
from services.consent.policies import service as policies
from services.consent.revisions import service as revisions
from services.consent.revisions.models import Revision
from services.consent.schemas import id_of, present
from services.consent.signatures import service as signatures
from services.consent.signatures.models import Signature
from services.consent.webhooks import events

if TYPE_CHECKING:
    from services.consent.access import Principal


def serialize(agreement: DataAgreement) -> dict[str, Any]:
    controller = None
    if agreement.controller_name is not None:
        controller = {"id": agreement.controller_id, "name": agreement.controller_name, "url": agreement.controller_url}
    data = {
        "version": agreement.version,
        "controller": controller,
        "policy": agreement.policy_id,
        "policyRevision": agreement.policy_revision_id,
        "purpose": agreement.purpose,
        "lawfulBasis": agreement.lawful_basis,
        "dataUse": agreement.data_use,
        "dpia": agreement.dpia,
        "active": agreement.active,
        "forgettable": agreement.forgettable,
        "compatibleWithVersion": agreement.compatible_with_version_id,
        "lifecycle": agreement.lifecycle,
        "dataAttributes": agreement.data_attributes or [],
        "deleted": agreement.deleted,
    }
    if agreement.data_consumers:  # absent when empty: revisions written before the extension stay current
        data["dataConsumers"] = agreement.data_consumers
    return data


def as_api(session: Session, agreement_id: str, data: dict[str, Any], signature_id: str | None) -> dict[str, Any]:
    """API shape: the policy is embedded as it was at the revision the agreement points to."""
    out = {"id": agreement_id, **{k: v for k, v in data.items() if k != "deleted"}}
    out["dataConsumers"] = data.get("dataConsumers", [])
    policy_revision = revisions.get(session, data["policyRevision"]) if data.get("policyRevision") else None
    out["policy"] = policies.as_api(data["policy"], revisions.object_data(policy_revision)) if policy_revision else None
    out["lifecycle"] = {"id": data["lifecycle"], "name": data["lifecycle"]} if data.get("lifecycle") else None
    out["signature"] = signatures.to_api(session.get(Signature, signature_id)) if signature_id else None
    return present(out)


def get_live(session: Session, agreement_id: str, *, for_update: bool = False) -> DataAgreement:
    agreement = session.get(DataAgreement, agreement_id, with_for_update=for_update or None)
    if agreement is None or agreement.deleted:
        raise not_found("data agreement", agreement_id)
    return agreement


def controlled(session: Session, agreement_id: str, who: Principal | None) -> DataAgreement:
    """The agreement (deleted ones too) if `who` controls it (or is the operator, or None: internal)."""
    agreement = session.get(DataAgreement, agreement_id)
    if agreement is None:
        raise not_found("data agreement", agreement_id)
    if who is not None:
        who.require(agreement.controller_id, "the data agreement's controller")
    return agreement


def may_verify(who: Principal, controller_id: str | None, consumers: list[str] | None) -> bool:
    return who.acts_for(controller_id) or (who.member is not None and who.member in (consumers or []))


def require_verifier(who: Principal, controller_id: str | None, consumers: list[str] | None) -> None:
    if not may_verify(who, controller_id, consumers):
        raise forbidden(
            f"only the data agreement's controller ({controller_id}), a member it names in dataConsumers or the "
            f"operator may verify consent to it; the caller acts for {who.member}"
        )


def read(
    session: Session, agreement_id: str, *, include_deleted: bool = False, who: Principal | None = None
) -> tuple[dict, Revision]:
    agreement = session.get(DataAgreement, agreement_id)
    if agreement is None or (agreement.deleted and not include_deleted):
        raise not_found("data agreement", agreement_id)
    if who is not None:
        who.require(agreement.controller_id, "the data agreement's controller")
    out = as_api(session, agreement.id, serialize(agreement), agreement.signature_id)
    if include_deleted:
        out["deleted"] = agreement.deleted
    return out, revisions.head(session, revisions.DATA_AGREEMENT, agreement.id)


def read_revision(session: Session, agreement_id: str, revision_id: str) -> tuple[dict, Revision]:
    revision = revisions.get(session, revision_id)
    if revision is None or revision.schema_name != revisions.DATA_AGREEMENT or revision.object_id != agreement_id:
        raise not_found("revision of this data agreement", revision_id)
    return as_api(session, agreement_id, revisions.object_data(revision), None), revision


def create(
    session: Session,
    signer: signatures.Signer,
    data: DataAgreementIn,
    by: str,
    agreement_id: str | None = None,
    who: Principal | None = None,
) -> tuple[dict, Revision]:
    agreement = DataAgreement(id=agreement_id or new_id())
    _apply(session, agreement, data, previous_policy=None)
    agreement.controller_id = _controller_id(data, None, who)
    session.add(agreement)
    session.flush()
    revision = _revise(session, signer, agreement, by)
    _emit(session, events.AGREEMENT_CREATED, agreement, revision)
    return as_api(session, agreement.id, serialize(agreement), agreement.signature_id), revision


def update(
    session: Session,
    signer: signatures.Signer,
    agreement_id: str,
    data: DataAgreementIn,
    by: str,
    who: Principal | None = None,
) -> tuple[dict, Revision]:
    agreement = _get_controlled(session, agreement_id, who)
    current_controller = agreement.controller_id
    _apply(session, agreement, data, previous_policy=(agreement.policy_id, agreement.policy_revision_id))
    agreement.controller_id = _controller_id(data, current_controller, who)
    session.flush()
    revision = _revise(session, signer, agreement, by)
    _emit(session, events.AGREEMENT_UPDATED, agreement, revision)
    return as_api(session, agreement.id, serialize(agreement), agreement.signature_id), revision


def delete(
    session: Session, signer: signatures.Signer, agreement_id: str, by: str, who: Principal | None = None
) -> Revision:
    agreement = _get_controlled(session, agreement_id, who)
    agreement.deleted = True
    agreement.active = False
    session.flush()
    revision = _revise(session, signer, agreement, by)
    _emit(session, events.AGREEMENT_DELETED, agreement, revision)
    return revision


def _get_controlled(session: Session, agreement_id: str, who: Principal | None) -> DataAgreement:
    agreement = get_live(session, agreement_id, for_update=True)
    if who is not None:
        who.require(agreement.controller_id, "the data agreement's controller")
    return agreement


def _controller_id(data: DataAgreementIn, current: str | None, who: Principal | None) -> str | None:
    """The controller the agreement names: the one sent, else the one it had. A member may name only itself."""
    chosen = None if data.controller is None else (data.controller.id or current)
    if who is not None and not who.operator and (chosen is None or chosen != who.member):
        raise forbidden(
            f"a data agreement's controller.id must be the calling member ({who.member}), not {chosen or 'missing'}"
        )
    if data.controller is not None and chosen is None:
        chosen = new_id()  # the operator's (or the seed's) agreement for an organisation outside the IM
    return chosen


def _emit(session: Session, event: str, agreement: DataAgreement, revision: Revision) -> None:
    data = {"dataAgreementId": agreement.id, "revisionId": revision.id}
    events.emit(session, event, data, agreement.controller_id)


def listing(
    session: Session,
    offset: int,
    limit: int,
    *,
    include_deleted: bool = False,
    only_active: bool = False,
    controller: str | None = None,
    verifier: Principal | None = None,
) -> list[dict]:
    """Agreements, oldest first; with `controller`, only those it controls; with `verifier`, only those it may
    verify consent to (as controller or data consumer; agreements are few, so that filter runs here)."""
    query = select(DataAgreement)
    if controller is not None:
        query = query.where(DataAgreement.controller_id == controller)
    if not include_deleted:
        query = query.where(DataAgreement.deleted.is_(False))
    query = query.order_by(DataAgreement.created_at, DataAgreement.id)
    if only_active:
        query = query.where(DataAgreement.active.is_(True))
    if verifier is None:
        rows = list(session.scalars(query.offset(offset).limit(limit)))
    else:
        mine = [a for a in session.scalars(query) if may_verify(verifier, a.controller_id, a.data_consumers)]
        rows = mine[offset : offset + limit]
    out = []
    for agreement in rows:
        item = as_api(session, agreement.id, serialize(agreement), agreement.signature_id)
        if include_deleted:
            item["deleted"] = agreement.deleted
        out.append(item)
    return out


def _revise(session: Session, signer: signatures.Signer, agreement: DataAgreement, by: str) -> Revision:
    revision = revisions.append(session, revisions.DATA_AGREEMENT, agreement.id, serialize(agreement), by_other=by)
    signature = signatures.sign_revision_as_organisation(signer, revision)
    session.add(signature)
    agreement.signature_id = signature.id
    session.flush()
    return revision


def _apply(
    session: Session,
    agreement: DataAgreement,
    data: DataAgreementIn,
    previous_policy: tuple[str | None, str | None] | None,
) -> None:
    agreement.version = data.version
    agreement.controller_name = data.controller.name if data.controller else None
    agreement.controller_url = data.controller.url if data.controller else None
    agreement.policy_id, agreement.policy_revision_id = _policy_pointer(session, data, previous_policy)
    agreement.purpose = data.purpose
    agreement.lawful_basis = data.lawfulBasis
    agreement.data_use = data.dataUse
    agreement.dpia = data.dpia
    agreement.active = data.active
    agreement.forgettable = data.forgettable
    compatible = id_of(data.compatibleWithVersion)
    if compatible is not None and compatible != agreement.id and session.get(DataAgreement, compatible) is None:
        raise not_found("data agreement (compatibleWithVersion)", compatible)
    agreement.compatible_with_version_id = compatible
    agreement.lifecycle = data.lifecycle
    agreement.data_consumers = data.dataConsumers or None
    agreement.data_attributes = [
        {
            "id": a.id or new_id(),
            "name": a.name,
            "sensitivity": a.sensitivity,
            "category": a.category,
            **({"description": a.description} if a.description else {}),
        }
        for a in data.dataAttributes
    ]


def _policy_pointer(
    session: Session, data: DataAgreementIn, previous: tuple[str | None, str | None] | None
) -> tuple[str | None, str | None]:
    """Which policy revision the agreement points at: the one pinned, else the current one when the
    policy is new to the agreement, else the one it already pointed at."""
    policy_id = id_of(data.policy)
    if policy_id is None:
        if data.policyRevision:
            raise bad_request("policyRevision given without a policy")
        return None, None
    if data.policyRevision:
        revision = revisions.get(session, data.policyRevision)
        if revision is None or revision.schema_name != revisions.POLICY or revision.object_id != policy_id:
            raise not_found("revision of the policy", data.policyRevision)
        if revisions.object_data(revision).get("deleted"):
            raise bad_request("that policy revision records its deletion")
        return policy_id, revision.id
    if previous is not None and previous[0] == policy_id and previous[1]:
        return previous
    policies.get_live(session, policy_id)
    return policy_id, revisions.head(session, revisions.POLICY, policy_id).id
