"""Request bodies of the account mapper, in both API generations (field names as the specs spell them)."""

from __future__ import annotations

import hashlib

from pydantic import BaseModel, ConfigDict, Field

Str12 = Field(min_length=1, max_length=12)


class _Body(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")


# --- 1.0 API (Registerbeneficiary.yaml, UpdateBeneficiary.yaml): exact lengths, as the files give them ---
class V1Beneficiary(_Body):
    PayeeFunctionalID: str = Field(min_length=20, max_length=20)
    PaymentModality: str | None = Field(default=None, min_length=2, max_length=2)
    FinancialAddress: str | None = Field(default=None, max_length=30)
    # Not in the 1.0 file, accepted so a client can name the institution explicitly.
    BankingInstitutionCode: str | None = Field(default=None, max_length=11)


class V1BeneficiaryRequest(_Body):
    RequestID: str = Field(min_length=12, max_length=12)
    SourceBBID: str = Field(min_length=12, max_length=12)
    Beneficiaries: list[V1Beneficiary] = Field(min_length=1)

    def fingerprint(self) -> str:
        """A retry with this RequestID must send the same beneficiaries."""
        return body_fingerprint(self)


# --- v3 API (G2P API YAMLs) ---
class V3RegisterBeneficiary(_Body):
    payeeIdentity: str = Field(min_length=1, max_length=20)
    # RegisterBeneficiaryRequest.yml spells it PaymentModality / FinancialAddress; camelCase accepted too.
    PaymentModality: str | None = Field(default=None, max_length=2, alias="PaymentModality")
    paymentModality: str | None = Field(default=None, max_length=2)
    FinancialAddress: str | None = Field(default=None, max_length=30)
    financialAddress: str | None = Field(default=None, max_length=30)
    bankingInstitutionCode: str | None = Field(default=None, max_length=11)


def body_fingerprint(body: BaseModel) -> str:
    return hashlib.sha256(body.model_dump_json().encode()).hexdigest()


class V3RegisterRequest(_Body):
    RequestID: str | None = Field(default=None, min_length=1, max_length=12)
    requestID: str | None = Field(default=None, min_length=1, max_length=12)
    Beneficiaries: list[V3RegisterBeneficiary] | None = None
    beneficiaries: list[V3RegisterBeneficiary] | None = None


class V3UpdateBeneficiary(_Body):
    payeeIdentity: str = Field(min_length=1, max_length=20)
    bankingInstitutionCode: str | None = Field(default=None, max_length=11)
    paymentModality: str | None = Field(default=None, max_length=2)
    financialAddress: str | None = Field(default=None, max_length=30)
    status: str | None = Field(default=None, pattern="^[01]$")


class V3UpdateRequest(_Body):
    requestID: str = Str12
    sourceBBID: str = Field(min_length=1, max_length=12)
    beneficiaries: list[V3UpdateBeneficiary] = Field(min_length=1)


class V3BulkLookupRequest(_Body):
    requestId: str = Str12
    payeePartyIds: list[str] = Field(min_length=1, max_length=10000)


class PaymentModality(BaseModel):
    payeeIdentity: str
    paymentModality: str | None = None
    financialAddress: str | None = None
    bankingInstitutionCode: str | None = None


class LookupAnswer(BaseModel):
    """Unknown ids are simply absent from the list."""

    requestId: str
    paymentModalityList: list[PaymentModality]
