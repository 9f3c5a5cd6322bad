"""Success bodies of the directory metaservices as `GovStack_IM_Directory_Services_API.yaml` names them (for
/openapi.json; the views build the answers, keys without a value omitted)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

ObjectType = Literal["MEMBER", "APPLICATION", "SERVICE"]


class ClientId(BaseModel):
    objectType: ObjectType
    instanceId: str
    memberClass: str
    memberCode: str
    applicationCode: str | None = None


class RestClientDetails(BaseModel):
    name: str
    id: ClientId


class RestClientDetailsList(BaseModel):
    member: list[RestClientDetails]


class Endpoint(BaseModel):
    method: str
    path: str


class EndpointList(BaseModel):
    member: list[Endpoint]


class RestServiceDetails(BaseModel):
    objectType: ObjectType
    serviceType: str
    instanceId: str
    memberClass: str
    memberCode: str
    applicationCode: str
    serviceCode: str
    serviceVersion: str | None = None
    endpointList: EndpointList


class RestServiceDetailsList(BaseModel):
    member: list[RestServiceDetails]
