"""The GovStack `IMconf` document (Configuration Management API), parsed and validated.

Both spellings of the spec are accepted: `specUrl`/`serviceUrl` (the OpenAPI) and `spec_url`/`service_url`
(the spec's sample configuration). Extensions: `enabled` and `description` on a service, `secretHash`
(`sha256:<hex>` of the application's credential) on an application, `memberClass` on a right, and
`endpoints` on a right: the operations (`{method, path}`, syntax in `endpoints.py`) it is limited to; a right
without `endpoints` covers the whole service.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator

from .endpoints import MAX_PER_RIGHT, normalise_method, normalise_path

IDENTIFIER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,127}$")
# Service codes that would shadow the IM's own routes under /r1/{instance}/{class}/{member}/{application}/.
RESERVED_SERVICE_CODES = {"listMethods", "allowedMethods", "getOpenAPI", "api", "pub", "pull"}
SECRET_HASH = re.compile(r"^sha256:[0-9a-f]{64}$")


def _identifier(value: Any, what: str) -> str:
    text = str(value) if isinstance(value, (int, str)) else value
    if not isinstance(text, str) or not IDENTIFIER.match(text):
        raise ValueError(f"{what} must be 1-128 letters, digits, '.', '_' or '-'")
    return text


class Endpoint(BaseModel):
    """One operation of a service: an HTTP method (or `*`) and a path pattern below the service."""

    model_config = ConfigDict(extra="ignore")
    method: str
    path: str

    @field_validator("method", mode="before")
    @classmethod
    def _method(cls, v: Any) -> str:
        return normalise_method(v)

    @field_validator("path", mode="before")
    @classmethod
    def _path(cls, v: Any) -> str:
        return normalise_path(v)


Endpoints = list[Endpoint] | None


def _endpoints(v: Endpoints) -> Endpoints:
    if v is None:
        return None
    if not v:
        raise ValueError("endpoints must list at least one operation; leave it out to allow the whole service")
    if len(v) > MAX_PER_RIGHT:
        raise ValueError(f"endpoints must list at most {MAX_PER_RIGHT} operations")
    unique = {(e.method, e.path): e for e in v}
    return list(unique.values())


def endpoint_list(v: Endpoints) -> list[dict[str, str]] | None:
    """As stored in the registry: None is the whole service."""
    return None if v is None else [{"method": e.method, "path": e.path} for e in v]


class Right(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")
    member: str
    application: str
    member_class: str | None = Field(
        default=None, validation_alias=AliasChoices("memberClass", "member_class", "class")
    )
    endpoints: Endpoints = None

    @field_validator("endpoints")
    @classmethod
    def _endpoints(cls, v: Endpoints) -> Endpoints:
        return _endpoints(v)

    @field_validator("member", mode="before")
    @classmethod
    def _member(cls, v: Any) -> str:
        # A member code, or (as in the spec's sample) a member's name, resolved when the document is applied.
        if not isinstance(v, (int, str)) or not str(v).strip() or len(str(v)) > 255:
            raise ValueError("member must be a member code or name")
        return str(v).strip()

    @field_validator("application", mode="before")
    @classmethod
    def _application(cls, v: Any) -> str:
        return _identifier(v, "application")


class ServiceConf(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")
    id: str
    spec_url: str = Field(validation_alias=AliasChoices("specUrl", "spec_url"))
    service_url: str = Field(validation_alias=AliasChoices("serviceUrl", "service_url"))
    description: str | None = None
    enabled: bool | None = None
    rights: list[Right] = []

    @field_validator("id", mode="before")
    @classmethod
    def _id(cls, v: Any) -> str:
        code = _identifier(v, "service id")
        if code in RESERVED_SERVICE_CODES:
            raise ValueError(f"service id {code!r} is reserved by the IM")
        return code

    @field_validator("spec_url", "service_url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not re.match(r"^https?://[^\s/]+", v):
            raise ValueError("must be an absolute http(s) URL")
        return v


class ApplicationConf(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")
    id: str
    connection: str | None = None
    services: list[ServiceConf] = []
    secret_hash: str | None = Field(default=None, validation_alias=AliasChoices("secretHash", "secret_hash"))

    @field_validator("id", mode="before")
    @classmethod
    def _id(cls, v: Any) -> str:
        return _identifier(v, "application id")

    @field_validator("secret_hash")
    @classmethod
    def _hash(cls, v: str | None) -> str | None:
        if v is not None and not SECRET_HASH.match(v):
            raise ValueError("secretHash must be 'sha256:' followed by 64 lowercase hex digits")
        return v


class MemberConf(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")
    name: str
    member_class: str = Field(validation_alias=AliasChoices("class", "memberClass"))
    code: str
    applications: list[ApplicationConf] = []

    @field_validator("member_class", "code", mode="before")
    @classmethod
    def _ids(cls, v: Any) -> str:
        return _identifier(v, "class and code")


class IMConf(BaseModel):
    model_config = ConfigDict(extra="ignore")
    domain: str
    instance: str
    members: list[MemberConf] = []

    @field_validator("instance", mode="before")
    @classmethod
    def _instance(cls, v: Any) -> str:
        return _identifier(v, "instance")


class AllowedApplication(BaseModel):
    model_config = ConfigDict(extra="ignore")
    memberClass: str | None = None
    memberCode: str | None = None
    applicationId: str | None = None
    # The spec's `required` list names `member` and `application`; accept those spellings too.
    member: str | None = None
    application: str | None = None
    # Extension: the operations the right is limited to (see Right).
    endpoints: Endpoints = None

    @field_validator("endpoints")
    @classmethod
    def _endpoints(cls, v: Endpoints) -> Endpoints:
        return _endpoints(v)

    def client(self, default_class: str) -> tuple[str, str, str]:
        code = self.memberCode or self.member
        app = self.applicationId or self.application
        if not code or not app:
            raise ValueError("each right needs memberCode (or member) and applicationId (or application)")
        return (
            _identifier(self.memberClass or default_class, "memberClass"),
            _identifier(code, "memberCode"),
            _identifier(app, "applicationId"),
        )


class ServiceAccessRights(BaseModel):
    model_config = ConfigDict(extra="ignore")
    memberClass: str
    memberCode: str
    applicationId: str
    serviceId: str
    rights: list[AllowedApplication]
