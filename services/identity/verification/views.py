from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from services.common.app import DBSession
from services.identity.security import relying_party
from services.identity.verification import service

router = APIRouter(tags=["Verification"])


@router.post("/v1/verification", summary="Yes/no identity verification", response_model=None)
def verification(request: Request, payload: Any = Body(None), session: Session = DBSession) -> dict | JSONResponse:
    caller = relying_party(request)
    try:
        return service.verify(session, caller, payload)
    except service.VerificationError as exc:
        return JSONResponse({"error": "invalid_request", "error_description": str(exc)}, 400)
