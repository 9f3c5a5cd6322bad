"""GovStack IM Configuration Management API (`/api/v1/config`, `/api/v1/status`, `/api/v1/rights/*`)."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import yaml
from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import TypeAdapter, ValidationError
from sqlalchemy.orm import Session

from ..audit import service as audit
from ..audit.schemas import AuditLog
from ..dependencies import DB, AdminRefusals, Runtime, require_admin
from ..proxy.errors import BAD_REQUEST, IMError
from . import service as registry
from .conf import IMConf, ServiceAccessRights
from .schemas import AllowList, Changed, Status

if TYPE_CHECKING:
    from ..runtime import IMRuntime

router = APIRouter(prefix="/api/v1", tags=["Configuration management"])

_RIGHTS = TypeAdapter(list[ServiceAccessRights])
# Bodies are read by hand (JSON or YAML) so that every outcome, a malformed body included, is audited.
_CONF_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": IMConf.model_json_schema(by_alias=True)},
            "text/yaml": {"schema": {"type": "string"}},
        },
    }
}
_RIGHTS_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": _RIGHTS.json_schema()},
        },
    }
}


def _admin_call(
    runtime: IMRuntime, action: str, work: Callable[[], tuple[int, Any]], detail: str | None
) -> JSONResponse:
    """Runs an administrative request of the administrator and audits it whatever the outcome."""
    try:
        status, payload = work()
    except (ValueError, ValidationError) as exc:  # audited as rejected, then answered 400
        message = _message(exc)
        audit.record(runtime.db, "admin", action, 400, f"{message} | {detail or ''}")
        raise IMError(BAD_REQUEST, message) from exc
    audit.record(runtime.db, "admin", action, status, detail)
    runtime.reload()
    return JSONResponse(payload, status_code=status)


def _message(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors())
    return str(exc)


def _parse(raw: bytes, content_type: str) -> Any:
    """The body as JSON, or YAML when the client says so; ValueError (audited as rejected) otherwise."""
    if not raw.strip():
        raise ValueError("a request body is required")
    try:
        return yaml.safe_load(raw) if "yaml" in content_type else json.loads(raw)
    except (ValueError, yaml.YAMLError) as exc:
        raise ValueError(f"the body is not valid {'YAML' if 'yaml' in content_type else 'JSON'}") from exc


async def _apply(request: Request, runtime: IMRuntime, action: str, replace: bool, require_new: bool) -> JSONResponse:
    raw, content_type = await request.body(), request.headers.get("content-type", "")

    def work() -> tuple[int, Any]:
        conf = IMConf.model_validate(_parse(raw, content_type))
        with runtime.db.session() as session:
            if require_new and registry.instance(session) is not None:
                raise ValueError("the IM is already initialised: use PATCH to update or PUT to replace")
            registry.apply_conf(session, conf, replace=replace)
        return 201, f"configuration of instance {conf.instance} applied"

    return await run_in_threadpool(_admin_call, runtime, action, work, _excerpt(raw))


def _excerpt(raw: bytes) -> str:
    return raw[:4000].decode("utf-8", errors="replace")


@router.get(
    "/config",
    summary="List IM configuration",
    operation_id="listIMconf",
    response_model=IMConf,
    dependencies=[Depends(require_admin("config.read"))],
)
def list_conf(db: DB) -> JSONResponse:
    with db.session() as session:
        return JSONResponse(registry.export_conf(session))


_APPLIED = {"description": "a sentence saying which instance's configuration was applied"}


@router.post(
    "/config",
    summary="Initialize IM instance",
    operation_id="createIMconf",
    status_code=201,
    response_model=str,
    responses={201: _APPLIED},
    openapi_extra=_CONF_BODY,
    dependencies=[Depends(require_admin("config.create"))],
)
async def create_conf(request: Request, runtime: Runtime, init: bool = Query(False)) -> JSONResponse:
    return await _apply(request, runtime, "config.create", replace=False, require_new=True)


@router.patch(
    "/config",
    summary="Update IM configuration",
    operation_id="updateIMconf",
    status_code=201,
    response_model=str,
    responses={201: _APPLIED},
    openapi_extra=_CONF_BODY,
    dependencies=[Depends(require_admin("config.update"))],
)
async def update_conf(request: Request, runtime: Runtime) -> JSONResponse:
    return await _apply(request, runtime, "config.update", replace=False, require_new=False)


@router.put(
    "/config",
    summary="Replace IM configuration",
    operation_id="replaceIMconf",
    status_code=201,
    response_model=str,
    responses={201: _APPLIED},
    openapi_extra=_CONF_BODY,
    dependencies=[Depends(require_admin("config.replace"))],
)
async def replace_conf(request: Request, runtime: Runtime) -> JSONResponse:
    return await _apply(request, runtime, "config.replace", replace=True, require_new=False)


@router.get(
    "/status",
    summary="Check status",
    operation_id="checkIMconf",
    response_model=Status,
    dependencies=[Depends(require_admin("status.read"))],
)
async def status(runtime: Runtime) -> JSONResponse:
    snap = runtime.snapshot
    return JSONResponse(
        {
            "status": "OK" if snap.instance else "NOT_CONFIGURED",
            "instance": snap.instance or None,
            "configurationVersion": snap.version,
            "applications": len(snap.clients),
            "services": len(snap.services),
            "federatedInstances": len(snap.federated_instances),
        }
    )


@router.get(
    "/rights/allow",
    summary="Retrieve configured access permissions (allow list)",
    operation_id="getAllowed",
    response_model=AllowList,
    dependencies=[Depends(require_admin("rights.read"))],
)
def get_allowed(
    db: DB,
    memberClass: str | None = None,  # spec parameter names
    memberCode: str | None = None,
    applicationId: str | None = None,
    serviceId: str | None = None,
    pageSize: float = Query(100, ge=1, le=10000),  # the spec's `number`: a fraction is cut to a whole count
    nextPageToken: str | None = None,
) -> JSONResponse:
    offset = _offset(nextPageToken)
    with db.session() as session:
        pairs = registry.allowed_pairs(session, memberClass, memberCode, applicationId, serviceId)
    size = int(pageSize)
    page = pairs[offset : offset + size]
    body: dict[str, Any] = {"allowList": _group(page)}
    if offset + size < len(pairs):
        body["nextPageToken"] = base64.urlsafe_b64encode(str(offset + size).encode()).decode()
    return JSONResponse(body)


def _offset(page_token: str | None) -> int:
    if not page_token:
        return 0
    try:
        return int(base64.urlsafe_b64decode(page_token.encode()).decode())
    except ValueError as exc:
        raise IMError(BAD_REQUEST, "nextPageToken is not one this IM issued") from exc


def _group(pairs: Sequence[registry.AllowedPair]) -> list[dict]:
    grouped: dict[tuple, dict] = {}
    for service, right, application, member in pairs:
        key = (member.member_class, member.code, application.code, service.code)
        item = grouped.setdefault(
            key,
            {
                "memberClass": member.member_class,
                "memberCode": member.code,
                "applicationId": application.code,
                "serviceId": service.code,
                "rights": [],
            },
        )
        # The spec's AllowedApplication describes memberClass/memberCode/applicationId but requires member and
        # application: both spellings are sent, so that a client reading either finds its values.
        item["rights"].append(
            {
                "memberClass": right.client_class,
                "memberCode": right.client_code,
                "applicationId": right.client_application,
                "member": right.client_code,
                "application": right.client_application,
                **({"endpoints": right.endpoints} if right.endpoints is not None else {}),
            }
        )
    return list(grouped.values())


async def _rights_change(
    request: Request, runtime: IMRuntime, action: str, change: Callable[[Session, list], int]
) -> JSONResponse:
    raw, content_type = await request.body(), request.headers.get("content-type", "")

    def work() -> tuple[int, Any]:
        # The spec's request body is optional: none is a change of nothing.
        items = _RIGHTS.validate_python(_parse(raw, content_type)) if raw.strip() else []
        with runtime.db.session() as session:
            count = change(session, items)
        return 200, {"changed": count}

    return await run_in_threadpool(_admin_call, runtime, action, work, _excerpt(raw))


@router.patch(
    "/rights/allow",
    summary="Allow access to services",
    operation_id="setAllowed",
    response_model=Changed,
    openapi_extra=_RIGHTS_BODY,
    dependencies=[Depends(require_admin("rights.allow"))],
)
async def set_allowed(request: Request, runtime: Runtime) -> JSONResponse:
    return await _rights_change(request, runtime, "rights.allow", registry.allow)


@router.patch(
    "/rights/deny",
    summary="Deny access to services",
    operation_id="setDenied",
    response_model=Changed,
    openapi_extra=_RIGHTS_BODY,
    dependencies=[Depends(require_admin("rights.deny"))],
)
async def set_denied(request: Request, runtime: Runtime) -> JSONResponse:
    return await _rights_change(request, runtime, "rights.deny", registry.deny)


@router.get(
    "/audit",
    summary="Audit log of administrative requests (newest first)",
    tags=["Monitoring"],
    response_model=AuditLog,
    dependencies=[Depends(require_admin("audit.read"))],
)
def audit_log(db: DB, tallies: AdminRefusals, limit: int = Query(100, ge=1, le=1000)) -> JSONResponse:
    tallies.flush()  # what is still being counted is part of the log
    with db.session() as session:
        return JSONResponse({"entries": audit.recent(session, limit)})
