"""Revisions: every change of a Policy, DataAgreement or ConsentRecord appends one link to a per-object
hash chain.

`serializedSnapshot` is the canonical JSON (sorted keys, no whitespace) of
`{objectData, schemaName, objectId, signedWithoutObjectId, timestamp, authorizedByIndividual,
authorizedByOther, predecessorHash}` and `serializedHash` is its SHA-256 (hex). Because the predecessor's
hash is inside the hashed snapshot, each hash commits to the object's entire history.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from services.common.clock import iso, utcnow
from services.consent.db import new_id
from services.consent.revisions.models import Revision
from services.consent.schemas import present

POLICY = "Policy"
DATA_AGREEMENT = "DataAgreement"
CONSENT_RECORD = "ConsentRecord"
# Forgotten consent records leave a tombstone in one chain of their own (object TOMBSTONE_CHAIN): deleting a
# tombstone then breaks that chain, which the audit verifies like any other. Its first link only opens it,
# so that even the first tombstone has a predecessor whose successor link would dangle.
TOMBSTONE = "ConsentRecordTombstone"
TOMBSTONE_CHAIN = "forgotten-consent-records"


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def build_snapshot(
    schema_name: str,
    object_id: str,
    data: dict[str, Any],
    *,
    timestamp: datetime,
    predecessor_hash: str | None,
    by_individual: str | None = None,
    by_other: str | None = None,
    signed_without_object_id: bool = False,
) -> str:
    return canonical_json(
        {
            "objectData": data,
            "schemaName": schema_name,
            "objectId": "" if signed_without_object_id else object_id,
            "signedWithoutObjectId": signed_without_object_id,
            "timestamp": iso(timestamp),
            "authorizedByIndividual": by_individual,
            "authorizedByOther": by_other,
            "predecessorHash": predecessor_hash,
        }
    )


def head(session: Session, schema_name: str, object_id: str) -> Revision | None:
    return session.scalars(
        select(Revision)
        .where(Revision.schema_name == schema_name, Revision.object_id == object_id)
        .order_by(Revision.seq.desc())
        .limit(1)
    ).first()


def get(session: Session, revision_id: str) -> Revision | None:
    return session.get(Revision, revision_id)


def history(
    session: Session, schema_name: str, object_id: str, offset: int = 0, limit: int | None = None
) -> list[Revision]:
    query = (
        select(Revision)
        .where(Revision.schema_name == schema_name, Revision.object_id == object_id)
        .order_by(Revision.seq)
        .offset(offset)
    )
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query))


def search(
    session: Session,
    offset: int,
    limit: int,
    *,
    schema_name: str | None = None,
    object_id: str | None = None,
    authorized_by: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    newest_first: bool = False,
    where: ColumnElement[bool] | None = None,
) -> list[Revision]:
    """Revision histories filtered (`where`: any further SQL condition) and sorted for auditors (spec 6.3)."""
    query = select(Revision) if where is None else select(Revision).where(where)
    if schema_name:
        query = query.where(Revision.schema_name == schema_name)
    if object_id:
        query = query.where(Revision.object_id == object_id)
    if authorized_by:
        query = query.where(
            (Revision.authorized_by_other == authorized_by) | (Revision.authorized_by_individual == authorized_by)
        )
    if since:
        query = query.where(Revision.timestamp >= since)
    if until:
        query = query.where(Revision.timestamp < until)
    order = (Revision.timestamp.desc(), Revision.seq.desc()) if newest_first else (Revision.timestamp, Revision.seq)
    return list(session.scalars(query.order_by(*order, Revision.id).offset(offset).limit(limit)))


def append(
    session: Session,
    schema_name: str,
    object_id: str,
    data: dict[str, Any],
    *,
    by_individual: str | None = None,
    by_other: str | None = None,
) -> Revision:
    """Write the next revision of an object from its current serialized data."""
    previous = head(session, schema_name, object_id)
    now = utcnow()
    snapshot = build_snapshot(
        schema_name,
        object_id,
        data,
        timestamp=now,
        predecessor_hash=previous.serialized_hash if previous else None,
        by_individual=by_individual,
        by_other=by_other,
    )
    return _store(session, previous, schema_name, object_id, snapshot, now, by_individual, by_other, False)


def append_signed_draft(
    session: Session,
    schema_name: str,
    object_id: str,
    snapshot: str,
    *,
    timestamp: datetime,
    by_individual: str | None,
    by_other: str | None,
) -> Revision:
    """Store a snapshot that was built (and signed) before the object had an id: kept byte for byte."""
    return _store(session, None, schema_name, object_id, snapshot, timestamp, by_individual, by_other, True)


def _store(
    session: Session,
    previous: Revision | None,
    schema_name: str,
    object_id: str,
    snapshot: str,
    timestamp: datetime,
    by_individual: str | None,
    by_other: str | None,
    signed_without_object_id: bool,
) -> Revision:
    revision = Revision(
        id=new_id(),
        schema_name=schema_name,
        object_id=object_id,
        seq=(previous.seq + 1) if previous else 1,
        signed_without_object_id=signed_without_object_id,
        serialized_snapshot=snapshot,
        serialized_hash=sha256_hex(snapshot),
        timestamp=timestamp,
        authorized_by_individual=by_individual,
        authorized_by_other=by_other,
        predecessor_hash=previous.serialized_hash if previous else None,
    )
    session.add(revision)
    if previous is not None:
        previous.successor_id = revision.id
    session.flush()
    return revision


def append_tombstone(session: Session, data: dict[str, Any], *, by_other: str) -> Revision:
    """Append to the tombstone chain (opened on first use); its first link is locked (PostgreSQL) so
    concurrent forgets queue instead of racing for the same seq."""
    opening = session.scalars(
        select(Revision)
        .where(Revision.schema_name == TOMBSTONE, Revision.object_id == TOMBSTONE_CHAIN, Revision.seq == 1)
        .with_for_update()
    ).first()
    if opening is None:
        append(session, TOMBSTONE, TOMBSTONE_CHAIN, {"event": "tombstone chain opened"}, by_other=by_other)
    return append(session, TOMBSTONE, TOMBSTONE_CHAIN, data, by_other=by_other)


def find_tombstone(session: Session, record_id: str) -> Revision | None:
    needle = f'"consentRecordId":{canonical_json(record_id)}'
    candidates = session.scalars(
        select(Revision).where(
            Revision.schema_name == TOMBSTONE,
            Revision.object_id == TOMBSTONE_CHAIN,
            Revision.serialized_snapshot.contains(needle, autoescape=True),
        )
    )
    return next((r for r in candidates if object_data(r).get("consentRecordId") == record_id), None)


def object_data(revision: Revision) -> dict[str, Any]:
    return json.loads(revision.serialized_snapshot)["objectData"]


def to_api(revision: Revision | None) -> dict[str, Any] | None:
    if revision is None:
        return None
    return present(
        {
            "id": revision.id,
            "schemaName": revision.schema_name,
            "objectId": revision.object_id,
            "signedWithoutObjectId": revision.signed_without_object_id,
            "serializedSnapshot": revision.serialized_snapshot,
            "serializedHash": revision.serialized_hash,
            "timestamp": iso(revision.timestamp),
            "authorizedByIndividual": revision.authorized_by_individual,
            "authorizedByOther": revision.authorized_by_other,
            "successor": revision.successor_id,
            "predecessorHash": revision.predecessor_hash,
            "predecessorSignature": revision.predecessor_signature,
        }
    )
