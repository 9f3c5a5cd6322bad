"""Integrity audit: recompute every object's revision chain and re-verify every signature.

Per object it checks, in order: revisions numbered 1..n; `serializedHash == sha256(serializedSnapshot)`;
the snapshot names the object, its schema and its predecessor's hash, and the stored `predecessorHash`
agrees; each revision's `successor` is the next one and the last has none; the newest snapshot equals the
object as it is stored now (catches edits of the live row); and every JWS signature over a revision
verifies. The first break of each object is reported.

A controller's audit covers its own objects: the policies it owns, the agreements it controls, the records
on them, and the tombstones of its forgotten records (the tombstone chain's integrity is everyone's).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import Session

from services.consent.agreements import service as agreements
from services.consent.agreements.models import DataAgreement
from services.consent.policies import service as policies
from services.consent.policies.models import Policy
from services.consent.records import service as records
from services.consent.records.models import ConsentRecord
from services.consent.revisions import service as revisions
from services.consent.revisions.models import Revision
from services.consent.signatures import service as signatures
from services.consent.signatures.models import Signature

LIVE: dict[str, tuple[type, Callable[[Any], dict]]] = {
    revisions.POLICY: (Policy, policies.serialize),
    revisions.DATA_AGREEMENT: (DataAgreement, agreements.serialize),
    revisions.CONSENT_RECORD: (ConsentRecord, records.serialize),
}


def visible_revisions(session: Session, member: str) -> ColumnElement[bool]:
    """SQL condition: the revision is of one of `member`'s objects (or a tombstone of one of its records)."""
    own_agreements = select(DataAgreement.id).where(DataAgreement.controller_id == member)
    own_records = select(ConsentRecord.id).where(ConsentRecord.data_agreement_id.in_(own_agreements))
    own_policies = select(Policy.id).where(Policy.owner == member)
    clauses = [
        and_(Revision.schema_name == revisions.POLICY, Revision.object_id.in_(own_policies)),
        and_(Revision.schema_name == revisions.DATA_AGREEMENT, Revision.object_id.in_(own_agreements)),
        and_(Revision.schema_name == revisions.CONSENT_RECORD, Revision.object_id.in_(own_records)),
    ]
    # A tombstone names its record's agreement in its snapshot, canonical JSON: match that text.
    tombstones = [
        Revision.serialized_snapshot.contains(
            f'"dataAgreementId":{revisions.canonical_json(agreement_id)}', autoescape=True
        )
        for agreement_id in session.scalars(own_agreements)
    ]
    if tombstones:
        clauses.append(and_(Revision.schema_name == revisions.TOMBSTONE, or_(*tombstones)))
    return or_(*clauses)


def _owned_objects(session: Session, member: str) -> set[tuple[str, str]]:
    own_agreements = select(DataAgreement.id).where(DataAgreement.controller_id == member)
    own = {(revisions.DATA_AGREEMENT, a) for a in session.scalars(own_agreements)}
    own |= {(revisions.POLICY, p) for p in session.scalars(select(Policy.id).where(Policy.owner == member))}
    records = select(ConsentRecord.id).where(ConsentRecord.data_agreement_id.in_(own_agreements))
    own |= {(revisions.CONSENT_RECORD, r) for r in session.scalars(records)}
    return own


def verify_all(session: Session, member: str | None = None) -> dict[str, Any]:
    """Every chain (or, with `member`, that member's objects' chains and the tombstone chain)."""
    own = _owned_objects(session, member) if member is not None else None

    def visible(key: tuple[str, str]) -> bool:
        return own is None or key in own or key[0] == revisions.TOMBSTONE

    breaks: list[dict[str, Any]] = []
    objects = revision_count = 0
    signed = _signatures_by_revision(session)
    for (schema_name, object_id), chain in _chains(session):
        if not visible((schema_name, object_id)):
            continue
        objects += 1
        revision_count += len(chain)
        problem = _check_chain(session, schema_name, object_id, chain, signed)
        if problem is not None:
            revision, message = problem
            breaks.append(
                {
                    "schemaName": schema_name,
                    "objectId": object_id,
                    "revisionId": revision.id if revision else None,
                    "seq": revision.seq if revision else None,
                    "problem": message,
                }
            )
    breaks.extend(o for o in _orphans(session) if visible((o["schemaName"], o["objectId"])))
    return {"ok": not breaks, "objectsChecked": objects, "revisionsChecked": revision_count, "breaks": breaks}


def verify_object(session: Session, schema_name: str, object_id: str) -> dict[str, Any]:
    chain = revisions.history(session, schema_name, object_id)
    signed = _signatures_by_revision(session, [r.id for r in chain])
    problem = _check_chain(session, schema_name, object_id, chain, signed) if chain else (None, "no revisions")
    return {
        "ok": problem is None,
        "revisionsChecked": len(chain),
        "breaks": []
        if problem is None
        else [
            {
                "schemaName": schema_name,
                "objectId": object_id,
                "revisionId": problem[0].id if problem[0] else None,
                "seq": problem[0].seq if problem[0] else None,
                "problem": problem[1],
            }
        ],
    }


def _chains(session: Session) -> Iterator[tuple[tuple[str, str], list[Revision]]]:
    query = (
        select(Revision)
        .order_by(Revision.schema_name, Revision.object_id, Revision.seq)
        .execution_options(yield_per=1000)
    )
    key, chain = None, []
    for revision in session.scalars(query):
        current = (revision.schema_name, revision.object_id)
        if current != key and chain:
            yield key, chain
            chain = []
        key = current
        chain.append(revision)
    if chain:
        yield key, chain


def signatures_of(session: Session, revision_ids: list[str]) -> dict[str, list[Signature]]:
    """The completed signatures over these revisions, by revision id."""
    return _signatures_by_revision(session, revision_ids)


def _signatures_by_revision(session: Session, revision_ids: list[str] | None = None) -> dict[str, list[Signature]]:
    """Every completed signature over a revision, in one query."""
    query = select(Signature).where(Signature.object_type == "revision", Signature.signature != "")
    if revision_ids is not None:
        query = query.where(Signature.object_reference.in_(revision_ids))
    out: dict[str, list[Signature]] = {}
    for signature in session.scalars(query):
        out.setdefault(signature.object_reference, []).append(signature)
    return out


def _check_chain(
    session: Session, schema_name: str, object_id: str, chain: list[Revision], signed: dict[str, list[Signature]]
) -> tuple[Revision | None, str] | None:
    previous: Revision | None = None
    for expected_seq, revision in enumerate(chain, start=1):
        problem = _check_link(revision, previous, expected_seq)
        if problem:
            return revision, problem
        previous = revision
    if previous is not None and previous.successor_id is not None:
        return previous, "the newest revision points to a successor that does not exist"
    problem = _check_live(session, schema_name, object_id, chain[-1])
    if problem:
        return chain[-1], problem
    for revision in chain:
        for signature in signed.get(revision.id, []):
            try:
                signatures.verify_signature_row(signature, revision)
            except signatures.InvalidSignature as exc:
                return revision, f"signature {signature.id} does not verify: {exc}"
    return None


def _check_link(revision: Revision, previous: Revision | None, expected_seq: int) -> str | None:
    if revision.seq != expected_seq:
        return f"revision {expected_seq} is missing"
    if revisions.sha256_hex(revision.serialized_snapshot) != revision.serialized_hash:
        return "serializedHash does not match serializedSnapshot (snapshot or hash altered)"
    try:
        snapshot = json.loads(revision.serialized_snapshot)
    except ValueError:
        return "serializedSnapshot is not JSON"
    expected_predecessor = previous.serialized_hash if previous else None
    if snapshot.get("predecessorHash") != expected_predecessor or revision.predecessor_hash != expected_predecessor:
        return "predecessorHash does not match the previous revision's hash (chain broken)"
    if snapshot.get("schemaName") != revision.schema_name:
        return "snapshot schemaName differs from the revision"
    if snapshot.get("objectId") != ("" if revision.signed_without_object_id else revision.object_id):
        return "snapshot objectId differs from the revision"
    if previous is not None and previous.successor_id != revision.id:
        return "the previous revision's successor link does not point here"
    return None


def _check_live(session: Session, schema_name: str, object_id: str, newest: Revision) -> str | None:
    model, serialize = LIVE.get(schema_name, (None, None))
    if model is None:
        return None
    row = session.get(model, object_id)
    if row is None:
        return "the object is gone but its revisions remain"
    if serialize(row) != revisions.object_data(newest):
        return "the stored object differs from its newest revision (edited outside the API)"
    return None


def _orphans(session: Session) -> list[dict[str, Any]]:
    """Objects that should have revisions but have none (their history was deleted)."""
    out = []
    for schema_name, (model, _) in LIVE.items():
        revisioned = select(Revision.object_id).where(Revision.schema_name == schema_name)
        for object_id in session.scalars(select(model.id).where(model.id.not_in(revisioned))):
            out.append(
                {
                    "schemaName": schema_name,
                    "objectId": object_id,
                    "revisionId": None,
                    "seq": None,
                    "problem": "the object has no revisions (history deleted)",
                }
            )
    return out
