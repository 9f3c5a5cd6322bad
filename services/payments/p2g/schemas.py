"""Bodies of the P2G routes, as the P2G API files (and the contract with the biller) give them.

The files spell some fields two ways (`requestId`/`requestID`, `paymentReferenceID`/`PaymentReferenceID`,
`billID`/`billId`): both are read. A refused body is a `P2GError` with the message of its first defect, answered
in the route's P2G error body (never pydantic's wording).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal

from annotated_types import MaxLen
from pydantic import (
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Strict,
    Tag,
    ValidationError,
    ValidatorFunctionWrapHandler,
    model_validator,
)

from .service import P2GError, valid_amount


def _text_or_none(value: Any) -> Any:  # noqa: ANN401 - whatever JSON value the client sent
    """Ids may come as JSON numbers; an empty string is no value."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None if value == "" else value


def _text(max_length: int, *spellings: str) -> Any:  # noqa: ANN401 - a field declaration
    alias = AliasChoices(*spellings) if len(spellings) > 1 else None
    return Field(max_length=max_length, validation_alias=alias)


Text = Annotated[str, BeforeValidator(_text_or_none)]


def _object_or_none(value: Any) -> Any:  # noqa: ANN401
    return value if isinstance(value, dict) else None


class P2GBody(BaseModel):
    """Refuses a body with the message of its first defect: `messages` per field, else "<field> is required" or
    "<field> must be a string of at most N characters" (the field named as the files spell it first)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)
    messages: ClassVar[dict[str, str]] = {}

    @model_validator(mode="wrap")
    @classmethod
    def _refused_as_p2g(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:  # noqa: ANN401
        try:
            return handler(data)
        except ValidationError as exc:
            raise P2GError(cls._refusal(exc.errors()[0])) from exc

    @classmethod
    def _refusal(cls, error: Any) -> str:  # noqa: ANN401 - a pydantic ErrorDetails
        if not error["loc"]:
            return "body: Input should be a valid dictionary"
        spelled = str(error["loc"][0])
        key, field = next((k, f) for k, f in cls.model_fields.items() if spelled in (k, *_spellings(f)))
        if key in cls.messages:
            return cls.messages[key]
        name = (*_spellings(field), key)[0]  # as the files spell it first
        if error["type"] == "missing" or error.get("input") is None:
            return f"{name} is required"
        max_length = next((m.max_length for m in field.metadata if isinstance(m, MaxLen)), None)
        return f"{name} must be a string of at most {max_length} characters"


def _spellings(field: Any) -> tuple[str, ...]:  # noqa: ANN401 - a pydantic FieldInfo
    alias = field.validation_alias
    return tuple(str(a) for a in alias.choices) if isinstance(alias, AliasChoices) else ()


class BillPaymentRequest(P2GBody):
    """billPaymentRequest: a payer FI pays a bill it inquired (`billInquiryRequestId`)."""

    requestId: Text = _text(20, "requestId", "requestID")
    billInquiryRequestId: Text = _text(20)
    billId: Text = _text(20)
    paymentReferenceID: Text = _text(20, "paymentReferenceID", "PaymentReferenceID")


class BillStatusUpdate(P2GBody):
    """markBillPpaymentResponse: the biller acknowledges (ACK) or rejects (RJC) a payment of one of its bills."""

    messages: ClassVar[dict[str, str]] = {"status": "status must be ACK or RJC"}

    status: Literal["ACK", "RJC"]
    rejectReason: Text | None = Field(default=None, max_length=100)
    billId: Text = _text(20)
    requestId: Any = Field(default=None, validation_alias=AliasChoices("requestId", "requestID"))


# Both share `POST /billTransferRequests`: a body with `status` is the biller's.
BillTransferBody = Annotated[
    Annotated[BillStatusUpdate, Tag("status")] | Annotated[BillPaymentRequest, Tag("payment")],
    Discriminator(lambda body: "status" if isinstance(body, dict) and "status" in body else "payment"),
]


def _rtp_id(value: Any) -> Any:  # noqa: ANN401
    return int(value) if isinstance(value, str) and value.isdigit() else value


def _amount(value: Any) -> Decimal | None:  # noqa: ANN401
    amount = valid_amount(value)
    if amount is None:
        raise ValueError("not a positive amount")
    return amount


class RtpBillDetails(BaseModel):
    amount: Annotated[Decimal, BeforeValidator(_amount)]


class RtpRequest(P2GBody):
    """billerRtpReq: a biller asks a payer (by alias or financial address) to pay one of its bills."""

    messages: ClassVar[dict[str, str]] = {
        "rtpId": "rtpId must be a positive integer",
        "billDetails": "billDetails.amount must be a positive number",
    }

    requestId: Any = None
    billId: Text = _text(20, "billID", "billId")
    rtpId: Annotated[int, BeforeValidator(_rtp_id), Strict(), Field(gt=0, lt=2**31)]
    alias: Annotated[dict[str, Any] | None, BeforeValidator(_object_or_none)] = None
    payerFiDetails: Annotated[dict[str, Any] | None, BeforeValidator(_object_or_none)] = None
    billDetails: RtpBillDetails


class BillerView(BaseModel):
    billerId: str
    billerName: str
    billIdPrefix: str
    imService: str


class BillInquiryAnswer(BaseModel):
    """The billInquiryResponse fields, answered at once (202)."""

    responseCode: str
    requestId: str
    code: str
    reason: str
    billId: str
    billDetails: dict[str, Any] | None = None


class BillTransferAnswer(BaseModel):
    responseCode: str
    reason: str
    requestID: str


class RtpAnswer(BaseModel):
    responseCode: str
    responseDescription: str
    requestID: str


class RtpStatusAnswer(BaseModel):
    """202 with the RTP's status (sandbox extension: `rtpStatus`, `billId`)."""

    responseCode: str
    reason: str
    requestID: str
    rtpStatus: str
    billId: str
