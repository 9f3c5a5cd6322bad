from __future__ import annotations

from typing import Any

from pydantic import Field

from services.consent.schemas import SpecModel


class ConsentRecordIn(SpecModel):
    id: str | None = None
    dataAgreement: str | dict[str, Any] | None = None
    dataAgreementRevision: str | dict[str, Any] | None = None
    dataAgreementRevisionHash: str | None = Field(None, max_length=128)
    individual: str | dict[str, Any] | None = None
    optIn: bool | None = None
    state: str | None = None


class SignatureIn(SpecModel):
    id: str | None = None
    payload: str | None = None
    signature: str | None = Field(None, max_length=100_000)
    verificationMethod: str | None = Field(None, max_length=64)
    verificationPayload: str | None = Field(None, max_length=1_000_000)
    verificationPayloadHash: str | None = Field(None, max_length=128)
    verificationArtifact: str | None = Field(None, max_length=1_000_000)
    verificationSignedBy: str | None = Field(None, max_length=20_000)
    verificationSignedAs: str | None = Field(None, max_length=32)
    verificationJwsHeader: str | None = Field(None, max_length=20_000)
    timestamp: str | None = None
    signedWithoutObjectReference: bool | None = None
    objectType: str | None = None
    objectReference: str | None = None


class SubmitBody(SpecModel):
    consentRecord: ConsentRecordIn
    signature: SignatureIn


class UpdateBody(SpecModel):
    consentRecord: ConsentRecordIn


class SignatureBody(SpecModel):
    signature: SignatureIn
