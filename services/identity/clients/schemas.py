"""Client management's request and response bodies."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, model_validator

from services.identity.clients import validation
from services.identity.envelope import EnvelopeErrors
from services.identity.schemas import Schema


class ClientId(Schema):
    clientId: str


class _Client(BaseModel):
    """The fields both requests share. The spec's rules run first, each with its own error code, all refusals
    answered together (`clients/validation.py`); the types below then hold."""

    model_config = ConfigDict(extra="allow")  # e.g. OIDC's spelling `backchannel_logout_uri`

    clientName: str
    logoUri: str
    redirectUris: list[str]
    userClaims: list[str]
    authContextRefs: list[str]
    grantTypes: list[str]
    clientAuthMethods: list[str]
    encPublicKey: dict[str, Any] | None = None  # extension: userinfo encryption
    backchannelLogoutUri: str | None = None  # extension: OIDC Back-Channel Logout


class ClientCreate(_Client):
    clientId: str
    relyingPartyId: str
    publicKey: dict[str, Any]

    @model_validator(mode="before")
    @classmethod
    def _rules(cls, data: Any) -> Any:
        if errors := validation.create_errors(data):
            raise EnvelopeErrors(errors)
        return data


class ClientUpdate(_Client):
    status: Literal["active", "inactive"]

    @model_validator(mode="before")
    @classmethod
    def _rules(cls, data: Any) -> Any:
        if errors := validation.update_errors(data):
            raise EnvelopeErrors(errors)
        return data
