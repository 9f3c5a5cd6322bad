"""The GovStack `IMconf` document (Configuration Management API), parsed and validated.

Both spellings of the spec are accepted: `specUrl`/`serviceUrl` (the OpenAPI) and `spec_url`/`service_url`
(the spec's sample configuration). Extensions: `enabled` and `description` on a service, `secretHash`
(`sha256:<hex>` of the application's credential) on an application, `memberClass` on a right,
`endpoints` on a right: the operations (`{method, path}`, syntax in `endpoints.py`) it is limited to (a right
without `endpoints` covers the whole service), and `federation`: the instances this one federates with
(X-Road federation), their members, applications and services, each service with its OpenAPI description
as a URL (`specUrl`) or inline (`openapi`).
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator, model_validator

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
        return _service_code(v)

    @field_validator("spec_url", "service_url")
    @classmethod
    def _url(cls, v: str) -> str:
        return _http_url(v)


def _http_url(v: str) -> str:
    if not re.match(r"^https?://[^\s/]+", v):
        raise ValueError("must be an absolute http(s) URL")
    return v


def _service_code(v: Any) -> str:
    code = _identifier(v, "service id")
    if code in RESERVED_SERVICE_CODES:
        raise ValueError(f"service id {code!r} is reserved by the IM")
    return code


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


# ---- federation: what this instance knows of the instances it federates with ----------------------------


class FederatedRight(BaseModel):
    """A client the federated instance lets call its service. That instance decides (X-Road: the provider's
    side); the directory's allowedMethods answers from what is declared here."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")
    instance: str | None = None  # default: the service's own instance
    member_class: str = Field(default="GOV", validation_alias=AliasChoices("memberClass", "member_class", "class"))
    member: str
    application: str

    @field_validator("instance", "member_class", "member", "application", mode="before")
    @classmethod
    def _ids(cls, v: Any) -> Any:
        return None if v is None else _identifier(v, "instance, class, member and application")

    def client_id(self, own_instance: str) -> str:
        return f"{self.instance or own_instance}/{self.member_class}/{self.member}/{self.application}"


class FederatedServiceConf(BaseModel):
    """A service of a federated instance: no service URL (it is reached through that instance's IM), its
    OpenAPI description by URL or inline."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")
    id: str
    spec_url: str | None = Field(default=None, validation_alias=AliasChoices("specUrl", "spec_url"))
    openapi: dict[str, Any] | None = None
    description: str | None = Field(default=None, max_length=1024)
    rights: list[FederatedRight] = []

    @field_validator("id", mode="before")
    @classmethod
    def _id(cls, v: Any) -> str:
        return _service_code(v)

    @field_validator("spec_url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        return None if v is None else _http_url(v)

    @field_validator("openapi", mode="before")
    @classmethod
    def _openapi(cls, v: Any) -> Any:
        """An OpenAPI document: an object, or its JSON or YAML text."""
        if isinstance(v, str):
            try:
                v = yaml.safe_load(v)
            except yaml.YAMLError as exc:
                raise ValueError("openapi is neither a JSON nor a YAML document") from exc
        if v is not None and not (isinstance(v, dict) and isinstance(v.get("openapi", v.get("swagger")), str)):
            raise ValueError("openapi must be an OpenAPI document (an object with an 'openapi' version string)")
        return v

    @model_validator(mode="after")
    def _one_description(self) -> FederatedServiceConf:
        if (self.spec_url is None) == (self.openapi is None):
            raise ValueError(f"service {self.id!r} needs its OpenAPI description: specUrl or openapi, one of them")
        return self


class FederatedApplicationConf(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str
    services: list[FederatedServiceConf] = []

    @field_validator("id", mode="before")
    @classmethod
    def _id(cls, v: Any) -> str:
        return _identifier(v, "application id")


class FederatedMemberConf(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")
    name: str = Field(min_length=1, max_length=255)
    member_class: str = Field(validation_alias=AliasChoices("class", "memberClass", "member_class"))
    code: str
    applications: list[FederatedApplicationConf] = []

    @field_validator("member_class", "code", mode="before")
    @classmethod
    def _ids(cls, v: Any) -> str:
        return _identifier(v, "class and code")


class FederatedInstanceConf(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")
    instance: str = Field(validation_alias=AliasChoices("instance", "instanceId"))
    members: list[FederatedMemberConf] = []

    @field_validator("instance", mode="before")
    @classmethod
    def _instance(cls, v: Any) -> str:
        return _identifier(v, "instance")

    def declaration(self) -> dict:
        """The declaration as stored and exported (the document's own spelling, no empty values)."""
        return {"instance": self.instance, "members": [_member_declaration(m) for m in self.members]}


def _member_declaration(member: FederatedMemberConf) -> dict:
    return {
        "name": member.name,
        "class": member.member_class,
        "code": member.code,
        "applications": [
            {"id": a.id, "services": [_service_declaration(s) for s in a.services]} for a in member.applications
        ],
    }


def _service_declaration(service: FederatedServiceConf) -> dict:
    out: dict[str, Any] = {"id": service.id}
    if service.spec_url:
        out["specUrl"] = service.spec_url
    if service.openapi is not None:
        out["openapi"] = service.openapi
    if service.description:
        out["description"] = service.description
    out["rights"] = [
        {
            **({"instance": r.instance} if r.instance else {}),
            "memberClass": r.member_class,
            "member": r.member,
            "application": r.application,
        }
        for r in service.rights
    ]
    return out


class IMConf(BaseModel):
    model_config = ConfigDict(extra="ignore")
    domain: str
    instance: str
    members: list[MemberConf] = []
    federation: list[FederatedInstanceConf] = []

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
