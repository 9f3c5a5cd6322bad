"""The wallet APIs' bodies (Identity-Provider.yaml): requests (the envelope's `request`) and answers (its
`response`)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator

from services.identity.errors import IdentityError
from services.identity.schemas import Schema


class LinkCode(Schema):
    transactionId: str
    linkCode: str
    expireDateTime: str


class LinkStatus(Schema):
    transactionId: str
    linkStatus: str
    linkedDateTime: str


class LinkAuthCode(Schema):
    code: str
    redirectUri: str
    state: str | None = None
    nonce: str | None = None


class AuthFactor(Schema):
    type: str


class LinkTransaction(Schema):
    linkTransactionId: str
    clientName: str | None = None
    logoUrl: str | None = None
    authorizeScopes: list[str]
    essentialClaims: list[str]
    voluntaryClaims: list[str]
    authFactors: list[list[AuthFactor]]
    configs: dict


class LinkedTransaction(Schema):
    linkedTransactionId: str


class WalletBinding(Schema):
    walletUserId: str
    certificate: str
    expireDateTime: str


class WalletPartner(Schema):
    partnerId: str
    apiKey: str


class _Request(BaseModel):
    """A wallet API's `request`. Its members are checked where they are used, each refusal with the spec's own
    error code (`invalid_transaction_id`, `invalid_link_code`, ...), which a type error here would lose."""

    model_config = ConfigDict(extra="allow")


class LinkCodeRequest(_Request):
    transactionId: Any = None


class LinkStatusRequest(_Request):
    transactionId: Any = None
    linkCode: Any = None


class LinkAuthCodeRequest(_Request):
    transactionId: Any = None
    linkedCode: Any = None
    linkCode: Any = None  # accepted as an alias of linkedCode


class LinkTransactionRequest(_Request):
    linkCode: Any = None


class LinkedOtpRequest(_Request):
    linkedTransactionId: Any = None
    individualId: Any = None


class LinkedAuthRequest(_Request):
    linkedTransactionId: Any = None
    individualId: Any = None
    challengeList: Any = None


class LinkedConsentRequest(_Request):
    linkedTransactionId: Any = None
    acceptedClaims: Any = None
    permittedAuthorizeScopes: Any = None


class WalletBindingRequest(_Request):
    individualId: Any = None
    authFactorType: Any = None
    format: Any = None
    publicKey: Any = None
    challengeList: Any = None


class PartnerRequest(BaseModel):
    partnerId: str

    @model_validator(mode="before")
    @classmethod
    def _named(cls, data: Any) -> Any:
        partner_id = data.get("partnerId") if isinstance(data, dict) else None
        if not isinstance(partner_id, str) or not 1 <= len(partner_id) <= 64:
            raise IdentityError("invalid_request", "partnerId required")
        return data
