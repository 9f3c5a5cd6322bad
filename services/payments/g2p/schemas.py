"""Request bodies of the G2P APIs (1.0 `bulkpayment.yaml`/`Prepaymentvalidation.yaml`, v3 `BulkPayment.yml`)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

Amount = Annotated[Decimal, Field(gt=0, le=Decimal("1000000000000"), decimal_places=4)]
Currency = Annotated[str, Field(pattern="^[A-Z]{3}$")]


class _Body(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")


class V1CreditInstruction(_Body):
    InstructionID: str = Field(min_length=1, max_length=16)
    PayeeFunctionalID: str = Field(min_length=1, max_length=20)
    Amount: Amount
    Currency: Currency
    Narration: str | None = Field(default=None, max_length=50)


class V1BulkPaymentRequest(_Body):
    RequestID: str = Field(min_length=1, max_length=12)
    SourceBBID: str = Field(min_length=1, max_length=12)
    BatchID: str = Field(min_length=1, max_length=12)
    CreditInstructions: list[V1CreditInstruction] = Field(min_length=1)


class V1ValidationResultRequest(_Body):
    RequestID: str | None = Field(default=None, max_length=12)
    SourceBBID: str | None = Field(default=None, max_length=12)
    BatchID: str = Field(min_length=1, max_length=12)


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
