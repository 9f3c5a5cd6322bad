"""Directory metaservices (GovStack IM spec 8.2): listClients, listMethods, allowedMethods, getOpenAPI.

Served with and without the `/r1` prefix. Items follow X-Road's REST metaservice shape with GovStack
naming; keys without a value are omitted rather than sent as null.
"""

from __future__ import annotations

import json

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.orm import Session

from ..proxy.forward import CLIENT_HEADERS
from ..registry import service as registry
from ..registry.models import Application
from . import openapi_docs

router = APIRouter(tags=["Directory (metaservices)"])


def _string_error(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse(message, status_code=status)


@router.get("/listClients", summary="List clients defined in the instance", operation_id="listClients")
@router.get("/r1/listClients", include_in_schema=False)
def list_clients(request: Request, instanceId: str | None = None) -> JSONResponse:
    with request.app.state.db.session() as session:
        inst = registry.instance(session)
        if inst is None or (instanceId and instanceId != inst.code):
            return JSONResponse({"member": []})
        items = []
        for m in registry.members(session):
            ident = {"GovStackInstance": inst.code, "memberClass": m.member_class, "memberCode": m.code}
            items.append({"name": m.name, "id": {"objectType": {"object_type": "MEMBER"}, **ident}})
            for a in m.applications:
                items.append(
                    {
                        "name": m.name,
                        "id": {"objectType": {"object_type": "SUBSYSTEM"}, **ident, "applicationCode": a.code},
                    }
                )
    return JSONResponse({"member": items})


def _provider(
    session: Session, instance: str, member_class: str, member_code: str, application: str
) -> Application | str:
    inst = registry.instance(session)
    if inst is None or instance != inst.code:
        return f"unknown instance {instance!r}"
    app = registry.find_application(session, member_class, member_code, application)
    if app is None:
        return f"unknown application {instance}/{member_class}/{member_code}/{application}"
    return app


def _caller(request: Request) -> str | None:
    return next((v.decode("latin-1") for k, v in request.scope["headers"] if k in CLIENT_HEADERS), None)


async def _methods(
    request: Request, ids: tuple[str, str, str, str], service_id: str | None, only_allowed: bool
) -> Response:
    caller = _caller(request) if only_allowed else None
    if only_allowed and not caller:
        return _string_error("allowedMethods needs the caller's identity in the X-GovStack-Client header")
    im = request.app.state.im_runtime
    with request.app.state.db.session() as session:
        app = _provider(session, *ids)
        if isinstance(app, str):
            return _string_error(app)
        items = []
        for service in app.services:
            if service_id and service.code != service_id:
                continue
            sid = f"{'/'.join(ids)}/{service.code}"
            entry = im.snapshot.services.get(sid)
            if only_allowed and (entry is None or caller not in entry.allowed):
                continue
            doc = await openapi_docs.document(im.fetcher, service)
            item = {
                "objectType": {"object_type": "SERVICE"},
                "serviceType": "REST",
                "GovStackInstance": ids[0],
                "memberClass": ids[1],
                "memberCode": ids[2],
                "applicationCode": ids[3],
                "serviceCode": service.code,
            }
            version = openapi_docs.version(doc)
            if version:
                item["serviceVersion"] = version
            limited = entry.operations.get(caller) if only_allowed and entry is not None else None
            # A right limited to some operations lists them as granted (patterns included), like X-Road's.
            listed = list(limited.endpoints) if limited is not None else openapi_docs.endpoints(doc)
            item["endpointList"] = {"member": listed}
            items.append(item)
    return JSONResponse({"member": items})


@router.get(
    "/r1/{instanceId}/{memberClass}/{memberCode}/{applicationCode}/listMethods",
    summary="List REST services and endpoints for a service provider",
    operation_id="listMethods",
)
@router.get("/{instanceId}/{memberClass}/{memberCode}/{applicationCode}/listMethods", include_in_schema=False)
async def list_methods(
    request: Request,
    instanceId: str,
    memberClass: str,
    memberCode: str,
    applicationCode: str,
    serviceId: str | None = None,
) -> Response:
    return await _methods(request, (instanceId, memberClass, memberCode, applicationCode), serviceId, False)


@router.get(
    "/r1/{instanceId}/{memberClass}/{memberCode}/{applicationCode}/allowedMethods",
    summary="List the REST services and endpoints of a provider that the caller may invoke",
    operation_id="allowedMethods",
)
@router.get("/{instanceId}/{memberClass}/{memberCode}/{applicationCode}/allowedMethods", include_in_schema=False)
async def allowed_methods(
    request: Request,
    instanceId: str,
    memberClass: str,
    memberCode: str,
    applicationCode: str,
    serviceId: str | None = None,
) -> Response:
    return await _methods(request, (instanceId, memberClass, memberCode, applicationCode), serviceId, True)


@router.get(
    "/r1/{instanceId}/{memberClass}/{memberCode}/{applicationCode}/getOpenAPI",
    summary="OpenAPI description of a REST service",
    operation_id="getOpenAPI",
)
@router.get("/{instanceId}/{memberClass}/{memberCode}/{applicationCode}/getOpenAPI", include_in_schema=False)
async def get_openapi(
    request: Request,
    instanceId: str,
    memberClass: str,
    memberCode: str,
    applicationCode: str,
    serviceCode: str | None = None,
) -> Response:
    if not serviceCode:
        return _string_error("the serviceCode query parameter is required")
    im = request.app.state.im_runtime
    with request.app.state.db.session() as session:
        app = _provider(session, instanceId, memberClass, memberCode, applicationCode)
        if isinstance(app, str):
            return _string_error(app)
        service = next((s for s in app.services if s.code == serviceCode), None)
        if service is None:
            return _string_error(f"unknown serviceCode {serviceCode!r}")
        doc = await openapi_docs.document(im.fetcher, service)
    if doc is None:
        return _string_error(f"the OpenAPI description of {serviceCode!r} cannot be fetched from its specUrl", 502)
    return Response(json.dumps(doc), media_type="application/json; charset=utf-8")
