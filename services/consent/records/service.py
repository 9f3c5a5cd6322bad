"""Consent records: an individual's yes or no to one revision of a data agreement.

Two ways in: a direct create (unsigned; `state` says so), or draft → sign → submit where the individual's
signature over the record's first revision snapshot is verified before anything is stored. Changing
`optIn` (withdrawal or re-consent) writes a new revision; the old signature no longer covers the record,
so its state returns to `unsigned` until the new revision is signed.

Who may (`access`, None for the service's own callers such as the seed and benchmarks): the controller of the
record's agreement or the operator; a change that expresses the individual's will (consent given, changed or
withdrawn, a signature, being forgotten) needs the individual's proof besides (the operator's does not).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete as sql_delete
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.common.clock import as_utc, utcnow
from services.consent.agreements.models import DataAgreement
from services.consent.db import new_id
from services.consent.errors import bad_request, not_found
from services.consent.individuals import service as individuals
from services.consent.individuals.models import Individual
from services.consent.records.models import SIGNED, UNSIGNED, ConsentRecord
from services.consent.records.schemas import ConsentRecordIn, SignatureIn
from services.consent.revisions import service as revisions
from services.consent.revisions.models import Revision
from services.consent.schemas import id_of, present
from services.consent.signatures import service as signatures
from services.consent.signatures.models import Signature
from services.consent.webhooks import events

if TYPE_CHECKING:
    from services.consent.access import Access

CLOCK_SKEW = timedelta(minutes=5)
RECORD_KEYS = {"dataAgreement", "dataAgreementRevision", "dataAgreementRevisionHash", "individual", "optIn"}


def serialize(record: ConsentRecord) -> dict[str, Any]:
    return {
        "dataAgreement": record.data_agreement_id,
        "dataAgreementRevision": record.data_agreement_revision_id,
        "dataAgreementRevisionHash": record.data_agreement_revision_hash,
        "individual": record.individual_id,
        "optIn": record.opt_in,
    }


def as_api(record: ConsentRecord) -> dict[str, Any]:
    """API shape; foreign keys (agreement, revision, individual, signature) are ids, as everywhere in this API."""
    return present({"id": record.id, **serialize(record), "state": record.state, "signature": record.signature_id})


def get(session: Session, record_id: str) -> ConsentRecord:
    record = session.get(ConsentRecord, record_id)
    if record is None:
        raise not_found("consent record", record_id)
    return record


def exists(session: Session, record_id: str) -> bool:
    return session.get(ConsentRecord, record_id) is not None


def get_for_individual(
    session: Session, record_id: str, individual_ref: str | None, access: Access | None = None
) -> tuple[ConsentRecord, Individual]:
    """The record, locked for update (PostgreSQL), if the caller controls its agreement and it belongs to
    the individual."""
    record = session.get(ConsentRecord, record_id, with_for_update=True)
    if record is None:
        raise not_found("consent record", record_id)
    if access is not None:
        access.control(controller_of(session, record.data_agreement_id))
    individual = individuals.resolve(session, individual_ref)
    if record.individual_id != individual.id:
        raise bad_request("this consent record belongs to another individual")
    return record, individual


def controller_of(session: Session, agreement_id: str) -> str | None:
    agreement = session.get(DataAgreement, agreement_id)
    return agreement.controller_id if agreement is not None else None


def _expresses_will(existing: ConsentRecord | None, opt_in: bool) -> bool:
    """Giving consent, or changing an answer; a first refusal (a consent request not yet answered) does not."""
    return opt_in if existing is None else existing.opt_in != opt_in


def head_revision(session: Session, record: ConsentRecord) -> Revision:
    return revisions.head(session, revisions.CONSENT_RECORD, record.id)


def agreement_revision(session: Session, agreement_id: str, revision_id: str | None) -> tuple[DataAgreement, Revision]:
    """The agreement consent is given to (it must be live and active) and the revision consented to."""
    agreement = session.get(DataAgreement, agreement_id)
    if agreement is None or agreement.deleted:
        raise not_found("data agreement", agreement_id)
    if not agreement.active:
        raise bad_request("the data agreement is not active: no new consent records can be created")
    if revision_id:
        revision = revisions.get(session, revision_id)
        if revision is None or revision.schema_name != revisions.DATA_AGREEMENT or revision.object_id != agreement_id:
            raise not_found("revision of this data agreement", revision_id)
    else:
        revision = revisions.head(session, revisions.DATA_AGREEMENT, agreement_id)
    return agreement, revision


def create(
    session: Session,
    agreement_id: str,
    individual_ref: str | None,
    revision_id: str | None,
    opt_in: bool,
    by: str,
    access: Access | None = None,
) -> tuple[ConsentRecord, Revision]:
    agreement, da_revision = agreement_revision(session, agreement_id, revision_id)
    if access is not None:
        access.control(agreement.controller_id)
    individual = individuals.resolve(session, individual_ref)
    existing = _existing(session, da_revision.id, individual.id)
    if access is not None and _expresses_will(existing, opt_in):
        access.individual_will(session, individual, "give consent" if opt_in else "withdraw consent")
    if existing is not None:
        # A retry, or a change of mind expressed by creating again: one record per agreement revision.
        if existing.opt_in == opt_in:
            return existing, head_revision(session, existing)
        return set_opt_in(session, existing, opt_in, by)
    record = ConsentRecord(
        id=new_id(),
        data_agreement_id=agreement.id,
        data_agreement_revision_id=da_revision.id,
        data_agreement_revision_hash=da_revision.serialized_hash,
        individual_id=individual.id,
        opt_in=opt_in,
        state=UNSIGNED,
    )
    session.add(record)
    session.flush()
    revision = revisions.append(
        session, revisions.CONSENT_RECORD, record.id, serialize(record), by_individual=individual.id, by_other=by
    )
    _emit(session, events.CONSENT_GIVEN if opt_in else events.CONSENT_REFUSED, record, revision)
    return record, revision


def draft(
    session: Session,
    agreement_id: str,
    individual_ref: str | None,
    revision_id: str | None,
    opt_in: bool,
    by: str,
    access: Access | None = None,
) -> tuple[dict, dict]:
    """An unsaved record and the Signature the individual must complete: nothing is stored."""
    agreement, da_revision = agreement_revision(session, agreement_id, revision_id)
    if access is not None:
        access.control(agreement.controller_id)
    individual = individuals.resolve(session, individual_ref)
    data = {
        "dataAgreement": agreement.id,
        "dataAgreementRevision": da_revision.id,
        "dataAgreementRevisionHash": da_revision.serialized_hash,
        "individual": individual.id,
        "optIn": opt_in,
    }
    now = utcnow()
    snapshot = revisions.build_snapshot(
        revisions.CONSENT_RECORD,
        "",
        data,
        timestamp=now,
        predecessor_hash=None,
        by_individual=individual.id,
        by_other=by,
        signed_without_object_id=True,
    )
    record = {**data, "state": UNSIGNED}  # no id and no signature until the signed draft is submitted
    return record, signatures.unsigned_for(snapshot, object_reference=None, timestamp=now)


def submit(
    session: Session,
    signer: signatures.Signer,
    record_in: ConsentRecordIn,
    signature_in: SignatureIn,
    by: str,
    access: Access | None = None,
) -> tuple[ConsentRecord, Revision, Signature]:
    """Store a signed draft: the signature must be a valid JWS over exactly the draft's snapshot (or, with
    method `JWS-delegated`, the Consent BB signs it on the word of the agreement's controller, who passes the
    individual's proof)."""
    snapshot = _required(signature_in.verificationPayload, "signature.verificationPayload")
    delegated = _is_delegated(signature_in.verificationMethod)
    if delegated:
        token, signed_by = signer.sign(snapshot), signatures.canonical_json(signer.public_jwk())
    else:
        token = _required(signature_in.signature, "signature.signature")
        signed_by = _required(signature_in.verificationSignedBy, "signature.verificationSignedBy")
    parsed = _parse_draft_snapshot(snapshot)
    data = parsed["objectData"]
    if signature_in.verificationPayloadHash and signature_in.verificationPayloadHash != revisions.sha256_hex(snapshot):
        raise bad_request("signature.verificationPayloadHash is not the SHA-256 of verificationPayload")
    agreement, da_revision = agreement_revision(session, data["dataAgreement"], data["dataAgreementRevision"])
    if access is not None:
        access.control(agreement.controller_id)
    individual = _match_record_to_snapshot(session, record_in, data)
    if da_revision.serialized_hash != data["dataAgreementRevisionHash"]:
        raise bad_request("dataAgreementRevisionHash does not match the agreement revision")
    proof = access.individual_will(session, individual, "sign a consent record") if access is not None else None
    timestamp = _snapshot_time(parsed["timestamp"])
    try:
        header = signatures.verify_jws(token, signed_by, snapshot)
    except signatures.InvalidSignature as exc:
        raise bad_request(f"signature refused: {exc}") from exc

    existing = _existing(session, da_revision.id, individual.id)
    if existing is not None:
        retried = existing.signature is not None and (
            existing.signature.signature == token or (delegated and existing.signature.verification_payload == snapshot)
        )
        if retried:
            return existing, head_revision(session, existing), existing.signature
        raise bad_request(
            "a consent record for this individual and agreement revision exists; update it instead",
            consentRecordId=existing.id,
        )

    record = ConsentRecord(
        id=new_id(),
        data_agreement_id=agreement.id,
        data_agreement_revision_id=da_revision.id,
        data_agreement_revision_hash=da_revision.serialized_hash,
        individual_id=individual.id,
        opt_in=bool(data["optIn"]),
        state=SIGNED,
    )
    session.add(record)
    session.flush()
    revision = revisions.append_signed_draft(
        session,
        revisions.CONSENT_RECORD,
        record.id,
        snapshot,
        timestamp=timestamp,
        by_individual=parsed.get("authorizedByIndividual"),
        by_other=parsed.get("authorizedByOther"),
    )
    signature = _signature_row(
        signature_in,
        token,
        signed_by,
        header,
        revision,
        without_reference=True,
        delegated_by=by if delegated else None,
        proof=proof,
    )
    session.add(signature)
    session.flush()
    record.signature_id = signature.id
    session.flush()
    session.refresh(record)
    _emit(session, events.CONSENT_GIVEN if record.opt_in else events.CONSENT_REFUSED, record, revision)
    _emit(session, events.CONSENT_SIGNED, record, revision)
    return record, revision, signature


def update(
    session: Session,
    record_id: str,
    individual_ref: str | None,
    record_in: ConsentRecordIn,
    by: str,
    access: Access | None = None,
) -> tuple[ConsentRecord, Revision]:
    """Only `optIn` may change (opt-in, opt-out, withdrawal); every other field is fixed by its revision."""
    record, individual = get_for_individual(session, record_id, individual_ref, access)
    if record_in.optIn is None:
        raise bad_request("consentRecord.optIn is required")
    for key, column in (
        ("dataAgreement", record.data_agreement_id),
        ("individual", record.individual_id),
        ("dataAgreementRevision", record.data_agreement_revision_id),
    ):
        sent = id_of(getattr(record_in, key))
        if sent is not None and sent != column:
            raise bad_request(f"consentRecord.{key} cannot be changed")
    if record_in.optIn == record.opt_in:
        return record, head_revision(session, record)
    if access is not None:
        access.individual_will(session, individual, "give consent" if record_in.optIn else "withdraw consent")
    return set_opt_in(session, record, record_in.optIn, by)


def set_opt_in(session: Session, record: ConsentRecord, opt_in: bool, by: str) -> tuple[ConsentRecord, Revision]:
    previous_signature = record.signature.signature if record.signature else None
    withdrawn = record.opt_in and not opt_in
    record.opt_in = opt_in
    record.state = UNSIGNED
    record.signature_id = None
    record.updated_at = utcnow()
    session.flush()
    session.refresh(record)
    revision = revisions.append(
        session, revisions.CONSENT_RECORD, record.id, serialize(record), by_individual=record.individual_id, by_other=by
    )
    revision.predecessor_signature = previous_signature
    event = events.CONSENT_GIVEN if opt_in else (events.CONSENT_WITHDRAWN if withdrawn else events.CONSENT_REFUSED)
    _emit(session, event, record, revision)
    return record, revision


def create_signature(
    session: Session,
    record_id: str,
    individual_ref: str | None,
    signature_in: SignatureIn,
    access: Access | None = None,
) -> Signature:
    """An unsigned Signature over the record's current revision: what the individual must sign."""
    record, _ = get_for_individual(session, record_id, individual_ref, access)
    _check_method(signature_in.verificationMethod)
    revision = head_revision(session, record)
    fields = signatures.unsigned_for(revision.serialized_snapshot, object_reference=revision.id)
    row = Signature(
        id=new_id(),
        signature="",
        verification_method=signatures.METHOD,
        verification_payload=revision.serialized_snapshot,
        verification_payload_hash=revision.serialized_hash,
        verification_artifact=signature_in.verificationArtifact,
        verification_signed_by=signature_in.verificationSignedBy or "",
        verification_signed_as=signature_in.verificationSignedAs or "individual",
        timestamp=utcnow(),
        signed_without_object_reference=False,
        object_type="revision",
        object_reference=revision.id,
    )
    row.payload = signatures.final_payload({**fields, **signatures.to_api(row)})
    session.add(row)
    session.flush()
    return row


def sign(
    session: Session,
    signer: signatures.Signer,
    record_id: str,
    individual_ref: str | None,
    signature_in: SignatureIn,
    by: str,
    access: Access | None = None,
) -> Signature:
    """Attach the individual's JWS over the record's current revision (or, with method `JWS-delegated`,
    the Consent BB's signature on the word of the agreement's controller, with the individual's proof); the
    record becomes `signed`."""
    record, individual = get_for_individual(session, record_id, individual_ref, access)
    revision = head_revision(session, record)
    delegated = _is_delegated(signature_in.verificationMethod)
    proof = access.individual_will(session, individual, "sign a consent record") if access is not None else None
    if delegated:
        if record.signature is not None and record.signature.object_reference == revision.id:
            return record.signature  # already signed: a retry
        token = signer.sign(revision.serialized_snapshot)
        signed_by = signatures.canonical_json(signer.public_jwk())
    else:
        token = _required(signature_in.signature, "signature.signature")
        signed_by = _required(signature_in.verificationSignedBy, "signature.verificationSignedBy")
    if record.signature is not None and record.signature.signature == token:
        return record.signature  # a retry
    try:
        header = signatures.verify_jws(token, signed_by, revision.serialized_snapshot)
    except signatures.InvalidSignature as exc:
        raise bad_request(f"signature refused: {exc}") from exc
    row = None
    if signature_in.id:
        row = session.get(Signature, signature_in.id)
        if row is None or row.object_reference != revision.id or row.signature:
            raise bad_request("signature.id is not an unsigned signature of this record's current revision")
    if row is None:
        row = _signature_row(
            signature_in,
            token,
            signed_by,
            header,
            revision,
            without_reference=False,
            delegated_by=by if delegated else None,
            proof=proof,
        )
        session.add(row)
    else:
        row.signature = token
        row.verification_signed_by = signed_by
        row.verification_jws_header = json.dumps(header, sort_keys=True)
        row.verification_method = signatures.DELEGATED if delegated else signatures.METHOD
        row.verification_signed_as = (
            "delegate" if delegated else (signature_in.verificationSignedAs or row.verification_signed_as)
        )
        if delegated or proof is not None:
            row.verification_artifact = _artifact(
                signature_in.verificationArtifact or row.verification_artifact, by if delegated else None, proof
            )
        row.timestamp = utcnow()
        row.payload = signatures.final_payload(signatures.to_api(row))
    session.flush()
    record.signature_id = row.id
    record.state = SIGNED
    record.updated_at = utcnow()
    session.flush()
    _emit(session, events.CONSENT_SIGNED, record, revision)
    return row


def current(
    session: Session, individual_ref: str | None, agreement_id: str, access: Access | None = None
) -> ConsentRecord:
    if access is not None:
        access.control(controlled_agreement(session, agreement_id))
    individual = individuals.resolve(session, individual_ref)
    record = session.scalars(
        select(ConsentRecord)
        .where(ConsentRecord.individual_id == individual.id, ConsentRecord.data_agreement_id == agreement_id)
        .order_by(ConsentRecord.created_at.desc(), ConsentRecord.id.desc())
        .limit(1)
    ).first()
    if record is None:
        raise bad_request(f"no consent record for this individual and data agreement {agreement_id!r}")
    return record


def controlled_agreement(session: Session, agreement_id: str) -> str | None:
    """The controller of an agreement that exists (deleted or not), for an access check."""
    agreement = session.get(DataAgreement, agreement_id)
    if agreement is None:
        raise not_found("data agreement", agreement_id)
    return agreement.controller_id


def of_controller(member: str) -> Any:
    """SQL condition: the record is on one of `member`'s agreements."""
    return ConsentRecord.data_agreement_id.in_(select(DataAgreement.id).where(DataAgreement.controller_id == member))


def for_individual(
    session: Session,
    individual_ref: str | None,
    offset: int,
    limit: int,
    agreement_id: str | None = None,
    current_only: bool = True,
    access: Access | None = None,
) -> list[ConsentRecord]:
    """The individual's records: the current one per agreement, or every one for one agreement; only those
    on agreements the caller controls."""
    if access is not None and agreement_id is not None:
        access.control(controlled_agreement(session, agreement_id))
    individual = individuals.resolve(session, individual_ref)
    query = select(ConsentRecord).where(ConsentRecord.individual_id == individual.id)
    if agreement_id is not None:
        query = query.where(ConsentRecord.data_agreement_id == agreement_id)
    if access is not None and access.principal.scope is not None:
        query = query.where(of_controller(access.principal.scope))
    rows = session.scalars(query.order_by(ConsentRecord.created_at.desc(), ConsentRecord.id.desc())).unique().all()
    if current_only:
        seen: set[str] = set()
        rows = [r for r in rows if not (r.data_agreement_id in seen or seen.add(r.data_agreement_id))]
    return rows[offset : offset + limit]


def listing(
    session: Session, offset: int, limit: int, agreement_id: str | None = None, controller: str | None = None
) -> list[ConsentRecord]:
    """Records, oldest first; of one agreement, and (with `controller`) only on that member's agreements."""
    query = select(ConsentRecord)
    if agreement_id is not None:
        query = query.where(ConsentRecord.data_agreement_id == agreement_id)
    if controller is not None:
        query = query.where(of_controller(controller))
    return list(
        session.scalars(query.order_by(ConsentRecord.created_at, ConsentRecord.id).offset(offset).limit(limit)).unique()
    )


def forget(
    session: Session, individual_ref: str | None, by: str = "direct", access: Access | None = None
) -> dict[str, list[str]]:
    """Right to be forgotten: delete the individual's records that need not be kept, i.e. those of a
    `forgettable` agreement that do not hold consent (refused or withdrawn). Everything else is retained
    because it is the evidence that processing was lawful. Each deleted record leaves a tombstone.
    A controller forgets (and lists) only records on its own agreements, with the individual's proof."""
    individual = individuals.resolve(session, individual_ref)
    query = (
        select(ConsentRecord, DataAgreement.forgettable)
        .join(DataAgreement, DataAgreement.id == ConsentRecord.data_agreement_id)
        .where(ConsentRecord.individual_id == individual.id)
    )
    if access is not None:
        access.individual_will(session, individual, "forget the individual's consent records")
        if access.principal.scope is not None:
            query = query.where(DataAgreement.controller_id == access.principal.scope)
    rows = session.execute(query).unique().all()
    deleted, retained, deleted_on = [], [], {}
    for record, forgettable in rows:
        if forgettable and not record.opt_in:
            _tombstone(session, record, by)  # before its revisions go: it names the newest one's hash
            deleted.append(record.id)
            deleted_on[record.id] = record.data_agreement_id
        else:
            retained.append(record.id)
    if deleted:
        revision_ids = select(Revision.id).where(
            Revision.schema_name == revisions.CONSENT_RECORD, Revision.object_id.in_(deleted)
        )
        session.execute(sql_delete(ConsentRecord).where(ConsentRecord.id.in_(deleted)))
        session.execute(sql_delete(Signature).where(Signature.object_reference.in_(revision_ids)))
        session.execute(
            sql_delete(Revision).where(
                Revision.schema_name == revisions.CONSENT_RECORD, Revision.object_id.in_(deleted)
            )
        )
        for record_id, agreement_id in deleted_on.items():
            events.emit(
                session, events.CONSENT_DELETED, {"consentRecordId": record_id}, controller_of(session, agreement_id)
            )
    return {"deleted": sorted(deleted), "retained": sorted(retained)}


def _tombstone(session: Session, record: ConsentRecord, by: str) -> None:
    """What remains of a forgotten record: which record of which agreement, when and by whom; no
    individual and no snapshot (the newest hash commits to the deleted history without revealing it)."""
    newest = revisions.head(session, revisions.CONSENT_RECORD, record.id)
    data = {
        "event": "consent record forgotten",
        "consentRecordId": record.id,
        "dataAgreementId": record.data_agreement_id,
        "dataAgreementRevisionId": record.data_agreement_revision_id,
        "revisionsDeleted": newest.seq if newest else 0,
        "lastRevisionHash": newest.serialized_hash if newest else None,
    }
    revisions.append_tombstone(session, data, by_other=by)


def _existing(session: Session, agreement_revision_id: str, individual_id: str) -> ConsentRecord | None:
    return session.scalars(
        select(ConsentRecord).where(
            ConsentRecord.data_agreement_revision_id == agreement_revision_id,
            ConsentRecord.individual_id == individual_id,
        )
    ).first()


def _emit(session: Session, event: str, record: ConsentRecord, revision: Revision) -> None:
    controller = controller_of(session, record.data_agreement_id)
    events.emit(
        session,
        event,
        {
            "consentRecordId": record.id,
            "dataAgreementId": record.data_agreement_id,
            "dataAgreementRevisionId": record.data_agreement_revision_id,
            "individualId": record.individual_id,
            "optIn": record.opt_in,
            "state": record.state,
            "revisionId": revision.id,
        },
        controller,
    )


def _required(value: str | None, name: str) -> str:
    if not value:
        raise bad_request(f"{name} is required")
    return value


def _check_method(method: str | None) -> None:
    if method and method.upper() not in (signatures.METHOD, signatures.DELEGATED.upper()):
        raise bad_request(f"verificationMethod {method!r} is not supported; use 'JWS' or 'JWS-delegated'")


def _is_delegated(method: str | None) -> bool:
    _check_method(method)
    return bool(method) and method.upper() == signatures.DELEGATED.upper()


def _artifact(artifact: str | None, delegated_by: str | None, proof: dict[str, Any] | None) -> str | None:
    """What a signature rests on. Delegated: who asked, the evidence they passed along and the individual's
    proof; the individual's own JWS: the artifact sent, plus the proof when there was one."""
    if delegated_by is None and proof is None:
        return artifact
    out: dict[str, Any] = {"evidence": artifact}
    if delegated_by is not None:
        out["requestedBy"] = delegated_by
    if proof is not None:
        out["individualProof"] = proof
    return revisions.canonical_json(out)


def _parse_draft_snapshot(snapshot: str) -> dict[str, Any]:
    try:
        parsed = json.loads(snapshot)
    except ValueError as exc:
        raise bad_request("signature.verificationPayload is not a draft snapshot (JSON)") from exc
    if not isinstance(parsed, dict) or revisions.canonical_json(parsed) != snapshot:
        raise bad_request("signature.verificationPayload must be the draft snapshot exactly as issued")
    data = parsed.get("objectData")
    if (
        parsed.get("schemaName") != revisions.CONSENT_RECORD
        or parsed.get("signedWithoutObjectId") is not True
        or parsed.get("objectId") != ""
        or parsed.get("predecessorHash") is not None
        or not isinstance(data, dict)
        or set(data) != RECORD_KEYS
        or not isinstance(data["optIn"], bool)
    ):
        raise bad_request("signature.verificationPayload is not a consent record draft snapshot")
    return parsed


def _match_record_to_snapshot(session: Session, record_in: ConsentRecordIn, data: dict[str, Any]) -> Individual:
    """The submitted record must say what was signed."""
    individual = individuals.resolve(session, id_of(record_in.individual) or data["individual"])
    if individual.id != data["individual"]:
        raise bad_request("consentRecord.individual is not the individual in the signed snapshot")
    for key in ("dataAgreement", "dataAgreementRevision"):
        sent = id_of(getattr(record_in, key))
        if sent is not None and sent != data[key]:
            raise bad_request(f"consentRecord.{key} differs from the signed snapshot")
    if record_in.dataAgreementRevisionHash and record_in.dataAgreementRevisionHash != data["dataAgreementRevisionHash"]:
        raise bad_request("consentRecord.dataAgreementRevisionHash differs from the signed snapshot")
    if record_in.optIn is not None and record_in.optIn != data["optIn"]:
        raise bad_request("consentRecord.optIn differs from the signed snapshot")
    return individual


def _snapshot_time(value: Any) -> datetime:
    try:
        ts = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError as exc:
        raise bad_request("the draft snapshot has no valid timestamp") from exc
    ts = as_utc(ts)
    if ts > utcnow() + CLOCK_SKEW:
        raise bad_request("the draft snapshot is dated in the future")
    return ts


def _signature_row(
    signature_in: SignatureIn,
    token: str,
    signed_by: str,
    header: dict,
    revision: Revision,
    without_reference: bool,
    delegated_by: str | None = None,
    proof: dict[str, Any] | None = None,
) -> Signature:
    delegated = delegated_by is not None
    row = Signature(
        id=new_id(),
        signature=token,
        verification_method=signatures.DELEGATED if delegated else signatures.METHOD,
        verification_payload=revision.serialized_snapshot,
        verification_payload_hash=revision.serialized_hash,
        verification_artifact=_artifact(signature_in.verificationArtifact, delegated_by, proof),
        verification_signed_by=signed_by,
        verification_signed_as="delegate" if delegated else (signature_in.verificationSignedAs or "individual"),
        verification_jws_header=json.dumps(header, sort_keys=True),
        timestamp=utcnow(),
        signed_without_object_reference=without_reference,
        object_type="revision",
        object_reference=revision.id,
    )
    row.payload = signatures.final_payload(signatures.to_api(row))
    return row
