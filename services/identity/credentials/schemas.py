"""Success bodies of Credential-Management.yaml's operations, inside `CredentialEnvelope.response`."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from services.identity.schemas import Schema


class SharedCredential(Schema):
    status: str
    eventId: str
    format: str
    credential: str
    disclosedClaims: list[str]


class EventStatus(Schema):
    eventId: str
    eventType: str
    eventStatus: str
    summary: str
    timestamp: str
    info: dict[str, Any] | None = None
    individualId: str | None = None


class OtpSent(Schema):
    transactionID: str
    message: str


class UinUpdated(Schema):
    registrationId: str
    message: str


class HistoryItem(Schema):
    eventId: str
    eventDescription: str
    eventStatus: str
    timeStamp: str
    requestType: str


class HistoryPage(Schema):
    pageNo: int
    pageSize: int
    totalItems: int
    totalPages: int
    data: list[HistoryItem]


class IdentityUpdated(Schema):
    status: str
    identity: dict[str, Any]


class FactorsBlocked(Schema):
    id: Any  # echoes the request's
    idType: Any
    status: str
    expiryTimestamp: str | None = None
    authFactors: list[str]
    blockedFactors: list[str]


class _Request(BaseModel):
    """An operation's `request`. Its members are checked where they are used, each refusal in the envelope with
    the operation's id and code (`invalid_input`, `consent_not_accepted`, ...), which a type error here would lose."""

    model_config = ConfigDict(extra="allow")


class ShareRequest(_Request):
    partnerId: Any = None
    purpose: Any = None
    consent: Any = None
    sharableAttributes: Any = None


class CardRequest(_Request):
    attributes: Any = None  # extension: what the card shows; the spec's `html` is not rendered


class OtpRequest(_Request):
    individualId: Any = None


class UinUpdateRequest(_Request):
    transactionID: Any = None
    individualId: Any = None
    otp: Any = None
    identityJson: Any = None


class IdentityUpdateRequest(_Request):
    uin: Any = None
    status: Any = None
    identity: Any = None


class BlockRequest(_Request):
    id: Any = None
    idType: Any = None
    authFactors: Any = None
    expiryTimestamp: Any = None
