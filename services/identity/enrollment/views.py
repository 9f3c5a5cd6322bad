from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Request
from fastapi.responses import JSONResponse

from services.common.errors import error_shape
from services.identity.dependencies import Caller, DbSession, SigningKeys
from services.identity.enrollment import service
from services.identity.enrollment.schemas import EnrollmentResponse
from services.identity.errors import error_code


def render(request: Request, status: int, message: str, details: list) -> JSONResponse:
    """Error shape of /enrollment (malformed JSON and the like)."""
    code = error_code(details) or ("invalid_request" if status < 500 else "unknown_error")
    body = service.envelope({}, None, [{"errorCode": code, "message": message if status < 500 else "internal error"}])
    return JSONResponse(body, status_code=status)


router = APIRouter(tags=["Enrollment"], route_class=error_shape(render))


@router.put(
    "/enrollment",
    summary="Create or update an enrollment (single or multi-step)",
    response_model=EnrollmentResponse,
    response_model_exclude_unset=True,
)
def put_enrollment(session: DbSession, caller: Caller, keys: SigningKeys, payload: Any = Body(None)) -> JSONResponse:
    status, body = service.enroll(session, keys, payload, caller)
    return JSONResponse(body, status_code=status)
