from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from services.common.app import DBSession
from services.common.errors import APIError
from services.identity.enrollment import service
from services.identity.security import relying_party

router = APIRouter(tags=["Enrollment"])


@router.put("/enrollment", summary="Create or update an enrollment (single or multi-step)")
def put_enrollment(request: Request, payload: Any = Body(None), session: Session = DBSession) -> JSONResponse:
    caller = relying_party(request)
    try:
        status, body = service.enroll(session, request.app.state.keyring, payload, caller)
    except service.EnrollmentError as exc:
        body = service.envelope(
            payload if isinstance(payload, dict) else {}, None, [{"errorCode": exc.code, "message": exc.message}]
        )
        raise APIError(exc.status, body) from None  # raised, so the session rolls back
    return JSONResponse(body, status_code=status)


def render(request: Request, status: int, message: str, details: list) -> JSONResponse:
    """Error shape of /enrollment (malformed JSON and the like)."""
    code = "invalid_request" if status < 500 else "unknown_error"
    body = service.envelope({}, None, [{"errorCode": code, "message": message if status < 500 else "internal error"}])
    return JSONResponse(body, status_code=status)
