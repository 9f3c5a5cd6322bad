from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from services.consent import docs_models
from services.consent.dependencies import DB, CallerAccess, IndividualHeader, OrgSigner, Paging, wake_webhooks
from services.consent.docs_models import doc
from services.consent.records import service
from services.consent.records.schemas import SignatureBody, SubmitBody, UpdateBody
from services.consent.revisions import service as revisions
from services.consent.signatures import service as signatures

router = APIRouter(tags=["service"], dependencies=[Depends(wake_webhooks)])


@router.post(
    "/service/individual/record/data-agreement/{dataAgreementId}/",
    operation_id="serviceIndividualConsentRecordCreate",
    responses=doc(docs_models.RecordAndRevision),
)
def create_record(
    dataAgreementId: str,
    session: DB,
    acc: CallerAccess,
    header: IndividualHeader,
    individualId: Annotated[str | None, Query()] = None,
    revisionId: str | None = None,
    optIn: bool = True,
) -> dict:
    """Record an individual's consent (or, with `optIn=false`, refusal) to the agreement's current revision.

    Idempotent: the same call again returns the same record; a different `optIn` changes it (new revision).
    The record is `unsigned` (use the signature endpoints, or the draft flow, for a signed record).
    The agreement's controller only; giving consent or changing an answer needs the individual's proof
    (`X-ConsentBB-Individual-Proof`), a consent request (`optIn=false`, first record) does not.
    """
    record, revision = service.create(
        session, dataAgreementId, individualId or header, revisionId, optIn, acc.by, access=acc
    )
    return {"consentRecord": service.as_api(record), "revision": revisions.to_api(revision)}


@router.get(
    "/service/individual/record/data-agreement/{dataAgreementId}/",
    operation_id="serviceIndividualConsentRecordRead",
    responses=doc(docs_models.RecordAndRevision),
)
def read_record(
    dataAgreementId: str,
    session: DB,
    acc: CallerAccess,
    header: IndividualHeader,
    individualId: Annotated[str | None, Query()] = None,
) -> dict:
    """The individual's current record for the agreement (individual from `X-ConsentBB-IndividualId`); the
    agreement's controller only."""
    record = service.current(session, header or individualId, dataAgreementId, acc)
    return {
        "consentRecord": service.as_api(record),
        "revision": revisions.to_api(service.head_revision(session, record)),
    }


@router.post(
    "/service/individual/record/consent-record/draft/",
    operation_id="serviceIndividualConsentRecordDraftCreate",
    responses=doc(docs_models.DraftRecord),
)
def draft_record(
    session: DB,
    acc: CallerAccess,
    header: IndividualHeader,
    dataAgreementId: str,
    individualId: Annotated[str | None, Query()] = None,
    revisionId: str | None = None,
    optIn: bool = True,
) -> dict:
    """An unsaved ConsentRecord and the Signature to complete: sign `signature.verificationPayload` as a
    compact JWS, put it in `signature.signature` and your public JWK in `signature.verificationSignedBy`,
    then POST both to `/service/individual/record/consent-record/`."""
    record, signature = service.draft(
        session, dataAgreementId, individualId or header, revisionId, optIn, acc.by, access=acc
    )
    return {"consentRecord": record, "signature": signature}


@router.post(
    "/service/individual/record/consent-record/",
    operation_id="serviceIndividualConsentRecordSignatureCreate",
    responses=doc(docs_models.RecordRevisionSignature),
)
def submit_record(body: SubmitBody, session: DB, acc: CallerAccess, key: OrgSigner) -> dict:
    """Store a signed draft. Refused (400) unless the JWS verifies over exactly the draft's snapshot.
    With `verificationMethod: "JWS-delegated"` the Consent BB signs instead, on the controller's word.
    The agreement's controller only, with the individual's proof (`X-ConsentBB-Individual-Proof`)."""
    record, revision, signature = service.submit(session, key, body.consentRecord, body.signature, acc.by, acc)
    return {
        "consentRecord": service.as_api(record),
        "revision": revisions.to_api(revision),
        "signature": signatures.to_api(signature),
    }


@router.get(
    "/service/individual/record/consent-record/",
    operation_id="serviceIndividualConsentRecordList",
    responses=doc(docs_models.Records),
)
def list_records(
    session: DB,
    acc: CallerAccess,
    header: IndividualHeader,
    paging: Paging,
    individualId: Annotated[str | None, Query()] = None,
) -> dict:
    """The individual's current record for each agreement the caller controls."""
    rows = service.for_individual(session, header or individualId, paging.offset, paging.limit, access=acc)
    return {"consentRecords": [service.as_api(r) for r in rows]}


@router.put(
    "/service/individual/record/consent-record/{consentRecordId}/",
    operation_id="serviceIndividualConsentRecordUpdate",
    responses=doc(docs_models.RecordAndRevision),
)
def update_record(
    consentRecordId: str,
    body: UpdateBody,
    session: DB,
    acc: CallerAccess,
    header: IndividualHeader,
    individualId: Annotated[str | None, Query()] = None,
) -> dict:
    """Change `optIn` (opt-in, opt-out, withdraw): a new revision; the record is `unsigned` until re-signed.
    The agreement's controller only, with the individual's proof (`X-ConsentBB-Individual-Proof`)."""
    record, revision = service.update(session, consentRecordId, header or individualId, body.consentRecord, acc.by, acc)
    return {"consentRecord": service.as_api(record), "revision": revisions.to_api(revision)}


@router.post(
    "/service/individual/record/consent-record/{consentRecordId}/signature/",
    operation_id="serviceIndividualSignatureCreate",
    responses=doc(docs_models.SignatureOnly),
)
def create_signature(
    consentRecordId: str,
    body: SignatureBody,
    session: DB,
    acc: CallerAccess,
    header: IndividualHeader,
    individualId: Annotated[str | None, Query()] = None,
) -> dict:
    """An unsigned Signature over the record's current revision (`verificationPayload` is what to sign)."""
    row = service.create_signature(session, consentRecordId, header or individualId, body.signature, acc)
    return {"signature": signatures.to_api(row)}


@router.put(
    "/service/individual/record/consent-record/{consentRecordId}/signature/",
    operation_id="serviceIndividualSignatureUpdate",
    responses=doc(docs_models.SignatureOnly),
)
def sign_record(
    consentRecordId: str,
    body: SignatureBody,
    session: DB,
    header: IndividualHeader,
    acc: CallerAccess,
    key: OrgSigner,
    individualId: Annotated[str | None, Query()] = None,
) -> dict:
    """Add the individual's JWS over the current revision; the record becomes `signed` if it verifies.
    With `verificationMethod: "JWS-delegated"` the Consent BB signs instead, on the controller's word.
    The agreement's controller only, with the individual's proof (`X-ConsentBB-Individual-Proof`), kept as
    evidence with the signature."""
    row = service.sign(session, key, consentRecordId, header or individualId, body.signature, acc.by, acc)
    return {"signature": signatures.to_api(row)}


@router.get(
    "/service/individual/record/data-agreement/{dataAgreementId}/all/",
    operation_id="serviceIndividualDataAgreementConsentRecordList",
    responses=doc(docs_models.Records),
)
def list_agreement_records(
    dataAgreementId: str,
    session: DB,
    acc: CallerAccess,
    header: IndividualHeader,
    paging: Paging,
    individualId: Annotated[str | None, Query()] = None,
) -> dict:
    """Every record the individual has for the agreement (one per agreement revision), newest first."""
    rows = service.for_individual(
        session,
        header or individualId,
        paging.offset,
        paging.limit,
        agreement_id=dataAgreementId,
        current_only=False,
        access=acc,
    )
    return {"consentRecords": [service.as_api(r) for r in rows]}


@router.delete(
    "/service/individual/record/",
    operation_id="serviceIndividualConsentRecordDeleteAll",
    responses=doc(docs_models.Forgotten),
)
def forget(
    session: DB, header: IndividualHeader, acc: CallerAccess, individualId: Annotated[str | None, Query()] = None
) -> dict:
    """Right to be forgotten: deletes the individual's refused/withdrawn records of forgettable agreements
    (with their revisions and signatures), leaving a tombstone per record in the audit; lists what was
    deleted and what must be retained. Needs the individual's proof (`X-ConsentBB-Individual-Proof`); a
    controller forgets records of its own agreements only."""
    return service.forget(session, header or individualId, acc.by, acc)
