"""Directory metaservices (GovStack IM spec 8.2): listClients, listMethods, allowedMethods, getOpenAPI.

Served with and without the `/r1` prefix, for this instance and for the instances it federates with. Answers
follow `GovStack_IM_Directory_Services_API.yaml`: the spec's members only (`instanceId`, `objectType` as
`MEMBER | APPLICATION | SERVICE`), keys without a value omitted rather than sent as null; errors are a JSON
string (400, or 502 when a provider's service description cannot be had).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

import yaml
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.orm import Session

from ..dependencies import DB, Runtime
from ..proxy.forward import CLIENT_HEADERS
from ..registry import federation
from ..registry import service as registry
from ..registry.conf import FederatedServiceConf
from ..registry.service import ServiceEntry
from . import openapi_docs
from .schemas import RestClientDetailsList, RestServiceDetailsList

if TYPE_CHECKING:
    from ..runtime import IMRuntime

router = APIRouter(tags=["Directory (metaservices)"])
JSON_MEDIA_TYPE = "application/json; charset=utf-8"
YAML_MEDIA_TYPE = "text/yaml; charset=utf-8"

Ids = tuple[str, str, str, str]  # instance, member class, member code, application


@dataclass
class Listed:
    """A service of a provider as the directory shows it."""

    code: str
    spec: openapi_docs.SpecSource
    entry: ServiceEntry | None  # its access rights, from the registry snapshot


def _string_error(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse(message, status_code=status, media_type=JSON_MEDIA_TYPE)


# ---- listClients ---------------------------------------------------------------------------------


@router.get(
    "/listClients",
    summary="List clients defined in the instance",
    operation_id="listClients",
    response_model=RestClientDetailsList,
)
@router.get("/r1/listClients", include_in_schema=False)
def list_clients(db: DB, instanceId: str | None = None) -> JSONResponse:
    with db.session() as session:
        own = registry.instance(session)
        if own is not None and instanceId in (None, "", own.code):
            local = registry.members(session)
            members = [(m.name, m.member_class, m.code, [a.code for a in m.applications]) for m in local]
            return _clients(own.code, members)
        declared = federation.federated_instance(session, instanceId) if instanceId else None
    if declared is None:
        return JSONResponse({"member": []})
    members = [(m.name, m.member_class, m.code, [a.id for a in m.applications]) for m in declared.members]
    return _clients(declared.instance, members)


def _clients(instance: str, members: list[tuple[str, str, str, list[str]]]) -> JSONResponse:
    """Each member, then each of its applications (X-Road's subsystems), in the spec's client list shape."""
    items = []
    for name, member_class, code, applications in sorted(members, key=lambda m: (m[1], m[2])):
        ident = {"instanceId": instance, "memberClass": member_class, "memberCode": code}
        items.append({"name": name, "id": {"objectType": "MEMBER", **ident}})
        items += [
            {"name": name, "id": {"objectType": "APPLICATION", **ident, "applicationCode": app}}
            for app in sorted(applications)
        ]
    return JSONResponse({"member": items})


# ---- the provider's services ---------------------------------------------------------------------


def _services(session: Session, im: IMRuntime, ids: Ids) -> list[Listed] | str:
    """The services of the provider application `ids` (this instance or a federated one), or an error."""
    prefix = "/".join(ids)
    own = registry.instance(session)
    if own is not None and ids[0] == own.code:
        app = registry.find_application(session, *ids[1:])
        if app is None:
            return f"unknown application {prefix}"
        return [Listed(s.code, s, im.snapshot.services.get(f"{prefix}/{s.code}")) for s in app.services]
    found = federation.federated_application(session, *ids)
    if found is None:
        known = ids[0] in im.snapshot.federated_instances
        return f"unknown application {prefix}" if known else f"unknown instance {ids[0]!r}"
    return [
        Listed(s.id, _declared_spec(im, f"{prefix}/{s.id}", s), im.snapshot.federated.get(f"{prefix}/{s.id}"))
        for s in found[1].services
    ]


def _declared_spec(im: IMRuntime, service_id: str, service: FederatedServiceConf) -> openapi_docs.DeclaredSpec:
    if service.spec_url is None:
        return openapi_docs.DeclaredSpec(None, json.dumps(service.openapi))
    # Fetched documents are kept per service and URL until the registry changes (see IMRuntime.reload).
    return im.declared_specs.setdefault((service_id, service.spec_url), openapi_docs.DeclaredSpec(service.spec_url))


def _caller(request: Request) -> str | None:
    """The `X-GovStack-Client` the spec requires (or another client header): who asks, not a proof of it."""
    claimed = next((v.decode("latin-1") for k, v in request.scope["headers"] if k in CLIENT_HEADERS), "")
    return claimed.strip() or None


# ---- listMethods / allowedMethods ----------------------------------------------------------------


async def _methods(request: Request, im: IMRuntime, ids: Ids, service_id: str | None, operation: str) -> Response:
    caller = _caller(request)
    if caller is None:
        return _string_error(f"{operation} needs the caller's identity in the X-GovStack-Client header")
    only_allowed = operation == "allowedMethods"
    with im.db.session() as session:
        services = _services(session, im, ids)
        if isinstance(services, str):
            return _string_error(services)
        items = []
        for service in services:
            if service_id and service.code != service_id:
                continue
            entry = service.entry
            if only_allowed and (entry is None or caller not in entry.allowed):
                continue
            doc = await openapi_docs.document(im.fetcher, service.spec)
            limited = entry.operations.get(caller) if only_allowed and entry is not None else None
            # A right limited to some operations lists them as granted (patterns included), like X-Road's.
            listed = list(limited.endpoints) if limited is not None else openapi_docs.endpoints(doc)
            items.append(_service_item(ids, service.code, openapi_docs.version(doc), listed))
    return JSONResponse({"member": items})


def _service_item(ids: Ids, code: str, version: str | None, endpoints: list[dict]) -> dict:
    instance, member_class, member_code, application = ids
    return {
        "objectType": "SERVICE",
        "serviceType": "REST",
        "instanceId": instance,
        "memberClass": member_class,
        "memberCode": member_code,
        "applicationCode": application,
        "serviceCode": code,
        **({"serviceVersion": version} if version else {}),
        "endpointList": {"member": endpoints},
    }


@router.get(
    "/r1/{instanceId}/{memberClass}/{memberCode}/{applicationCode}/listMethods",
    summary="List REST services and endpoints for a service provider",
    operation_id="listMethods",
    response_model=RestServiceDetailsList,
)
@router.get("/{instanceId}/{memberClass}/{memberCode}/{applicationCode}/listMethods", include_in_schema=False)
async def list_methods(
    request: Request,
    runtime: Runtime,
    instanceId: str,
    memberClass: str,
    memberCode: str,
    applicationCode: str,
    serviceId: str | None = None,
) -> Response:
    ids = (instanceId, memberClass, memberCode, applicationCode)
    return await _methods(request, runtime, ids, serviceId, "listMethods")


@router.get(
    "/r1/{instanceId}/{memberClass}/{memberCode}/{applicationCode}/allowedMethods",
    summary="List the REST services and endpoints of a provider that the caller may invoke",
    operation_id="allowedMethods",
    response_model=RestServiceDetailsList,
)
@router.get("/{instanceId}/{memberClass}/{memberCode}/{applicationCode}/allowedMethods", include_in_schema=False)
async def allowed_methods(
    request: Request,
    runtime: Runtime,
    instanceId: str,
    memberClass: str,
    memberCode: str,
    applicationCode: str,
    serviceId: str | None = None,
) -> Response:
    ids = (instanceId, memberClass, memberCode, applicationCode)
    return await _methods(request, runtime, ids, serviceId, "allowedMethods")


# ---- getOpenAPI ----------------------------------------------------------------------------------


@router.get(
    "/r1/{instanceId}/{memberClass}/{memberCode}/{applicationCode}/getOpenAPI",
    summary="OpenAPI description of a REST service",
    description="The description as a JSON string (`application/json`, the default) or as YAML text "
    "(`Accept: text/yaml`).",
    operation_id="getOpenAPI",
    response_class=Response,
    responses={
        200: {
            "content": {
                "application/json": {"schema": {"type": "string", "description": "the document, JSON-encoded"}},
                "text/yaml": {"schema": {"type": "string"}},
            }
        }
    },
)
@router.get("/{instanceId}/{memberClass}/{memberCode}/{applicationCode}/getOpenAPI", include_in_schema=False)
async def get_openapi(
    request: Request,
    im: Runtime,
    instanceId: str,
    memberClass: str,
    memberCode: str,
    applicationCode: str,
    serviceCode: str | None = None,
) -> Response:
    if _caller(request) is None:
        return _string_error("getOpenAPI needs the caller's identity in the X-GovStack-Client header")
    if not serviceCode:
        return _string_error("the serviceCode query parameter is required")
    with im.db.session() as session:
        services = _services(session, im, (instanceId, memberClass, memberCode, applicationCode))
        if isinstance(services, str):
            return _string_error(services)
        service = next((s for s in services if s.code == serviceCode), None)
        if service is None:
            return _string_error(f"unknown serviceCode {serviceCode!r}")
        doc = await openapi_docs.document(im.fetcher, service.spec)
    if doc is None:
        return _string_error(f"the OpenAPI description of {serviceCode!r} cannot be fetched from its specUrl", 502)
    if prefers_yaml(request.headers.get("accept")):
        return Response(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), media_type=YAML_MEDIA_TYPE)
    return Response(json.dumps(json.dumps(doc)), media_type=JSON_MEDIA_TYPE)


def prefers_yaml(accept: str | None) -> bool:
    """Accept negotiation between the two documented forms: JSON unless the client prefers `text/yaml`."""
    return bool(accept) and _quality(accept, "text", "yaml") > _quality(accept, "application", "json")


def _quality(accept: str, kind: str, subtype: str) -> float:
    """The q-value the most specific matching media range of `accept` gives `kind/subtype` (0: none)."""
    best, best_specificity = 0.0, -1
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        range_kind, _, range_subtype = media.lower().partition("/")
        if range_kind not in (kind, "*") or range_subtype not in (subtype, "*"):
            continue
        specificity = (range_kind != "*") + (range_subtype != "*")
        if specificity > best_specificity:
            best, best_specificity = _q(params), specificity
    return best


def _q(params: list[str]) -> float:
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            try:
                return min(max(float(value), 0.0), 1.0)
            except ValueError:
                return 0.0
    return 1.0
