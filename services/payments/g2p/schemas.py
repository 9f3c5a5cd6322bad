"""Request bodies of the G2P APIs (1.0 `bulkpayment.yaml`/`Prepaymentvalidation.yaml`, v3 `BulkPayment.yml`).

The 1.0 files give exact lengths (`minLength` = `maxLength`): 12-character RequestID, SourceBBID and BatchID,
16-character InstructionID, 20-character PayeeFunctionalID. They are part of the contract and enforced.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal
from typing import Annotated

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

Amount = Annotated[Decimal, Field(gt=0, le=Decimal("1000000000000"), decimal_places=4)]
Currency = Annotated[str, Field(pattern="^[A-Z]{3}$")]
Id12 = Annotated[str, Field(min_length=12, max_length=12)]


class _Body(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")


class V1CreditInstruction(_Body):
    InstructionID: str = Field(min_length=16, max_length=16)
    PayeeFunctionalID: str = Field(min_length=20, max_length=20)
    Amount: Amount
    Currency: Currency
    Narration: str | None = Field(default=None, max_length=50)


class V1BulkPaymentRequest(_Body):
    RequestID: Id12
    SourceBBID: Id12
    BatchID: Id12
    CreditInstructions: list[V1CreditInstruction] = Field(min_length=1)

    def fingerprint(self, program_id: str | None) -> str:
        """What makes two requests with one RequestID the same request: the validated body and the programme
        (amounts compared as numbers, so 10 and 10.0 are the same)."""
        parts = [self.SourceBBID, self.BatchID, program_id or ""]
        for i in self.CreditInstructions:
            parts += [i.InstructionID, i.PayeeFunctionalID, str(i.Amount.normalize()), i.Currency, i.Narration or ""]
        return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


class V1ValidationResultRequest(_Body):
    """`/prepayment-validation-response` (in no spec file): the outcome of a validation by its batch id."""

    RequestID: str | None = Field(default=None, max_length=12)
    SourceBBID: str | None = Field(default=None, max_length=12)
    BatchID: str = Field(min_length=1, max_length=12, validation_alias=AliasChoices("BatchID", "Source_BatchID"))


class Party(_Body):
    key: str = Field(min_length=1, max_length=40)
    value: str = Field(min_length=1, max_length=40)


class V3Transaction(_Body):
    requestId: str = Field(min_length=1, max_length=16)
    creditParty: list[Party] = Field(min_length=1)
    debitParty: list[Party]
    paymentMode: str = Field(max_length=20)
    amount: Amount
    currency: Currency
    descriptionText: str | None = Field(default=None, max_length=50)


class FailedCase(BaseModel):
    InstructionID: str
    PayeeFunctionalID: str
    FailureReason: str


class ValidationResult(BaseModel):
    """Prepaymentvalidation.yaml's answer (also sent to `X-Callback-URL`)."""

    ResponseCode: str
    ResponseDescription: str
    RequestID: str | None = None
    BatchID: str | None = None
    NumberFailedCases: int | None = None
    FailedCases: list[FailedCase] | None = None


class BulkPaymentAck(BaseModel):
    ResponseCode: str
    ResponseDescription: str
    RequestID: str
    BatchID: str
    PaymentsBatchID: str


class BatchAccepted(BaseModel):
    batchId: str


class BatchSummary(BaseModel):
    """The BulkPaymentStatusUpdate body, plus `status`, `currency` and `clientBatchId`."""

    requestId: str
    batchId: str
    TotalTransactions: int
    ongoing: int
    failed: int
    completed: int
    totalAmount: float
    completed_amount: float
    ongoing_amount: float
    failed_amount: float
    result_file: str | None = None
    resultGeneratedAt: str
    note: str
    currency: str | None = None
    status: str
    clientBatchId: str | None = None


class TransactionDetail(BaseModel):
    """One transaction of BatchDetails.yml."""

    workflowInstanceKey: str
    transactionId: str
    startedAt: str
    completedAt: str | None = None
    status: str
    statusDetail: str | None = None
    payeeDfspId: str | None = None
    payeePartyId: str
    payeePartyIdType: str
    payeeFee: float
    payeeFeeCurrency: str
    payerDfspId: str
    payerPartyId: str
    payerPartyIdType: str
    payerFee: float
    payerFeeCurrency: str
    amount: float
    currency: str
    direction: str
    errorInformation: str | None = None
    batchId: str
