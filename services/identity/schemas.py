"""Identity's envelopes as models, and what its success bodies look like, for `/openapi.json`.

A route answers through its model with `response_model_exclude_unset=True`: the body is what the route built
(members it leaves out stay out), checked against the documented shape; members the model does not list pass
through."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, model_validator

from services.identity.credentials.envelope import request_part as credential_request_part
from services.identity.envelope import request_part

T = TypeVar("T")


class Schema(BaseModel):
    model_config = ConfigDict(extra="allow")


class ErrorItem(Schema):
    errorCode: str
    errorMessage: str | None = None
    message: str | None = None


class Envelope(Schema, Generic[T]):
    """The wallet and client-management envelope: `{responseTime, response, errors: []}`."""

    responseTime: str
    response: T
    errors: list[ErrorItem] = []


class EnvelopeRequest(BaseModel, Generic[T]):
    """The wallet and client-management request envelope `{requestTime, request: {...}}`; a body of another
    shape is `invalid_request` (HTTP 200, in `errors[]`) as the spec answers it."""

    requestTime: str
    request: T

    @model_validator(mode="before")
    @classmethod
    def _shape(cls, data: Any) -> Any:
        request_part(data)
        return data


class CredentialEnvelope(Schema, Generic[T]):
    """Credential-Management.yaml's envelope (`responsetime`, or `responseTime` where its schema says so)."""

    id: str
    version: str
    responsetime: str | None = None
    responseTime: str | None = None
    requestTime: str | None = None
    response: T
    errors: list[ErrorItem] | None = None


class CredentialRequest(BaseModel, Generic[T]):
    """Credential-Management.yaml's request `{id, version, requesttime, request: {...}}`; a body of another shape
    is 400 `invalid_input`."""

    id: Any = None
    version: Any = None
    requesttime: Any = None
    request: T

    @model_validator(mode="before")
    @classmethod
    def _shape(cls, data: Any) -> Any:
        credential_request_part(data)
        return data
