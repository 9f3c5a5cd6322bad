"""Request bodies of the 1.0 voucher API (VoucherAPIS.json) and the status code of each defect, in one place.

A required field that is missing is 400 ("invalid request"); a field that is present but invalid (wrong type,
`null`, bad format) is answered with that field's own code where the spec gives one (`null` amount 452, `null`
group 454, ...), else 400. Checks against stored data (unknown group, unknown building block, ...) use the
same codes: `CODES`.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

INVALID_REQUEST = 400
CODES = {
    "invalid_amount": (452, "invalid amount"),
    "invalid_currency": (453, "invalid currency"),
    "invalid_group": (454, "invalid voucher group"),
    "group_exhausted": (455, "voucher group exhausted"),
    "invalid_serial": (456, "invalid voucher serial number"),
    "unknown_voucher": (456, "invalid voucher number"),
    "used": (458, "voucher number already used"),
    "expired": (459, "voucher has expired"),
    "unknown_bb": (460, "GovStack building block does not exist"),
    "invalid_voucher_number": (461, "invalid voucher number"),
    "funds": (462, "insufficient funds in funding account"),
    "merchant": (463, "cannot credit merchant"),
    "invalid_voucher": (463, "invalid voucher"),
    "already_cancelled": (464, "voucher is already cancelled"),
}
AMOUNT = r"^([0]|([1-9][0-9]{0,17}))([.][0-9]{0,3}[0-9])?$"


def _digits_as_text(value: Any) -> Any:  # noqa: ANN401 - whatever JSON value the client sent
    """The file types serial and voucher numbers as integers and amounts as strings: accept both spellings."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and not isinstance(value, bool):
        return format(value, "f").rstrip("0").rstrip(".") if value == value else str(value)
    return value


Number = Annotated[
    str,
    BeforeValidator(_digits_as_text),
    Field(min_length=1, max_length=25, description="an integer (as the file types it) or a string"),
]


class V1VoucherRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    # field -> key of CODES answered when the field is present but invalid (else 400)
    invalid: ClassVar[dict[str, str]] = {}

    @classmethod
    def refusal(cls, raw: dict, invalid_fields: list[str]) -> tuple[int, str]:
        """Status and message for a JSON object this model refused (`invalid_fields` as the validation error
        names them)."""
        missing = [name for name, field in cls.model_fields.items() if field.is_required() and name not in raw]
        if missing:
            return INVALID_REQUEST, "invalid request: missing " + ", ".join(missing)
        for name in cls.model_fields:  # in the order of the fields: the first defect decides
            if name in invalid_fields:
                if name in cls.invalid:
                    return CODES[cls.invalid[name]]
                return INVALID_REQUEST, f"invalid request: {name} is invalid"
        return INVALID_REQUEST, "invalid request"


class PreactivationRequest(V1VoucherRequest):
    voucher_amount: Annotated[
        str,
        BeforeValidator(_digits_as_text),
        # (the pattern repeated for the JSON schema: pydantic drops it beside a BeforeValidator)
        Field(max_length=23, pattern=AMOUNT, json_schema_extra={"pattern": AMOUNT, "examples": ["15.21"]}),
    ]
    voucher_currency: str = Field(pattern="^[A-Z]{3}$", description="ISO 4217 code; the group's currency")
    voucher_group: str = Field(min_length=1, max_length=20)
    Gov_Stack_BB: str = Field(min_length=1, max_length=40)
    voucher_comment: str | None = None

    invalid: ClassVar[dict[str, str]] = {
        "voucher_amount": "invalid_amount",
        "voucher_currency": "invalid_currency",
        "voucher_group": "invalid_group",
        "Gov_Stack_BB": "unknown_bb",
    }


class ActivationRequest(V1VoucherRequest):
    voucher_serial_number: Number
    Gov_Stack_BB: str = Field(min_length=1, max_length=40)

    invalid: ClassVar[dict[str, str]] = {"voucher_serial_number": "invalid_serial", "Gov_Stack_BB": "unknown_bb"}


class RedemptionRequest(V1VoucherRequest):
    voucher_number: Number
    Gov_Stack_BB: str = Field(min_length=1, max_length=40)
    merchant_name: str = Field(min_length=1, max_length=120)
    merchant_bank_details: str = Field(max_length=120)
    merchant_voucher_group: str = Field(max_length=20)
    override: bool

    invalid: ClassVar[dict[str, str]] = {
        "voucher_number": "invalid_voucher_number",
        "Gov_Stack_BB": "unknown_bb",
        "merchant_name": "merchant",
        "merchant_bank_details": "merchant",
        "merchant_voucher_group": "merchant",
    }


class CancelRequest(V1VoucherRequest):
    """Cancellation documents 200, 400, 463 and 464 only: an unknown building block is 463 (invalid voucher)."""

    voucherserialnumber: Number
    Gov_Stack_BB: str = Field(min_length=1, max_length=40)

    invalid: ClassVar[dict[str, str]] = {"Gov_Stack_BB": "invalid_voucher"}


REQUESTS: list[tuple[str, re.Pattern[str], type[V1VoucherRequest]]] = [
    ("POST", re.compile(r"/vouchers/voucher_preactivation/?"), PreactivationRequest),
    ("PATCH", re.compile(r"/vouchers/voucher_activation/?"), ActivationRequest),
    ("POST", re.compile(r"/vouchers/voucher_rede+mption/?"), RedemptionRequest),
    ("PATCH", re.compile(r"/vouchers/voucherstatuscheck/[^/]*/?"), CancelRequest),
]


def request_model(method: str, path: str) -> type[V1VoucherRequest] | None:
    return next((model for m, pattern, model in REQUESTS if m == method and pattern.fullmatch(path)), None)


class PreactivationAnswer(BaseModel):
    voucher_number: str = Field(description="the voucher's secret number (only in this answer)")
    voucher_serial_number: str
    expiry_date_time: str


class ActivationAnswer(BaseModel):
    result_status: str = Field(examples=["Activated"])


class RedemptionAnswer(BaseModel):
    result_status: str = Field(examples=["Redeemed"])
    voucher_serial_number: str
    voucher_amount: str
    currency: str
    transaction_id: str | None = None


class StatusAnswer(BaseModel):
    voucher_status: str
    voucher_amount: str


class CancelAnswer(BaseModel):
    message: str = Field(examples=["Voucher cancelled"])
