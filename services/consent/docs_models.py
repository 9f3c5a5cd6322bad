"""Response shapes for the OpenAPI document only (`responses={200: {"model": ...}}`): routes return plain
dicts, these models describe them for `/docs` without re-validating every answer."""

from __future__ import annotations

from pydantic import BaseModel, Field


class Revision(BaseModel):
    id: str
    schemaName: str
    objectId: str
    signedWithoutObjectId: bool
    serializedSnapshot: str
    serializedHash: str
    timestamp: str
    authorizedByIndividual: str | None = None
    authorizedByOther: str | None = None
    successor: str | None = None
    predecessorHash: str | None = None
    predecessorSignature: str | None = None


class Signature(BaseModel):
    id: str | None
    payload: str
    signature: str
    verificationMethod: str
    verificationPayload: str
    verificationPayloadHash: str
    verificationArtifact: str | None = None
    verificationSignedBy: str
    verificationSignedAs: str | None = None
    verificationJwsHeader: str | None = None
    timestamp: str
    signedWithoutObjectReference: bool
    objectType: str
    objectReference: str | None = None


class Policy(BaseModel):
    id: str
    name: str
    version: str
    url: str
    jurisdiction: str | None = None
    industrySector: str | None = None
    dataRetentionPeriodDays: int | None = Field(None, ge=0, le=2**31 - 1)
    geographicRestriction: str | None = None
    storageLocation: str | None = None
    owner: str | None = Field(
        None, description="Extension (policy endpoints): the member that may change it; null: the operator"
    )


class Controller(BaseModel):
    id: str | None = None
    name: str
    url: str


class DataAgreementAttribute(BaseModel):
    id: str
    name: str
    sensitivity: str
    category: str
    description: str | None = None


class Lifecycle(BaseModel):
    id: str
    name: str


class DataAgreement(BaseModel):
    id: str
    version: str
    controller: Controller | None = None
    policy: Policy | None = None
    policyRevision: str | None = None
    purpose: str
    lawfulBasis: str
    dataUse: str | None = None
    dpia: str
    active: bool
    forgettable: bool
    compatibleWithVersion: str | None = None
    lifecycle: Lifecycle | None = None
    dataAttributes: list[DataAgreementAttribute] = []
    dataConsumers: list[str] = Field([], description="Extension: members besides the controller that may verify")
    signature: Signature | None = None


class ConsentRecord(BaseModel):
    id: str | None
    dataAgreement: str
    dataAgreementRevision: str
    dataAgreementRevisionHash: str
    individual: str
    optIn: bool
    state: str
    signature: str | None = None


class Individual(BaseModel):
    id: str
    externalId: str | None = None
    externalIdType: str | None = None
    identityProviderId: str | None = None


class Webhook(BaseModel):
    id: str
    payloadUrl: str
    contentType: str
    disabled: bool
    secretKey: str
    subscribedEvents: list[str] = []


class Verification(BaseModel):
    individualId: str
    dataAgreementId: str
    consent: bool
    consentRecordId: str | None = None
    dataAgreementRevisionId: str | None = None
    optIn: bool | None = None
    state: str | None = None


class PolicyAndRevision(BaseModel):
    policy: Policy
    revision: Revision


class PolicyRevisions(BaseModel):
    policy: Policy
    revisions: list[Revision]


class Policies(BaseModel):
    policies: list[Policy]


class RevisionOnly(BaseModel):
    revision: Revision


class AgreementAndRevision(BaseModel):
    dataAgreement: DataAgreement
    revision: Revision


class Agreements(BaseModel):
    dataAgreements: list[DataAgreement]


class IndividualOnly(BaseModel):
    individual: Individual


class Individuals(BaseModel):
    individuals: list[Individual]


class RecordAndRevision(BaseModel):
    consentRecord: ConsentRecord
    revision: Revision


class RecordRevisionSignature(BaseModel):
    consentRecord: ConsentRecord
    revision: Revision
    signature: Signature


class DraftRecord(BaseModel):
    consentRecord: ConsentRecord
    signature: Signature


class Records(BaseModel):
    consentRecords: list[ConsentRecord]


class VerificationAnswer(BaseModel):
    consentRecords: list[ConsentRecord]
    verifications: list[Verification] = []


class SignatureOnly(BaseModel):
    signature: Signature


class Forgotten(BaseModel):
    deleted: list[str]
    retained: list[str]


class WebhookOnly(BaseModel):
    webhook: Webhook


class Webhooks(BaseModel):
    webhooks: list[Webhook]


class ErrorBody(BaseModel):
    error: str
    message: str


def doc(model: type[BaseModel]) -> dict:
    """`responses=` for a route: its 200 shape and the spec's 400."""
    return {200: {"model": model}, 400: {"model": ErrorBody, "description": "bad input parameter"}}
