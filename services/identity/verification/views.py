from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from services.common.app import DBSession
from services.identity import ratelimit
from services.identity.security import relying_party
from services.identity.verification import audit, service

router = APIRouter(tags=["Verification"])


def _refusal(status: int, error: str, description: str, retry_after: int | None = None) -> JSONResponse:
    headers = {"Retry-After": str(retry_after)} if retry_after else None
    return JSONResponse({"error": error, "error_description": description}, status, headers=headers)


@router.post("/v1/verification", summary="Yes/no identity verification", response_model=None)
def verification(request: Request, payload: Any = Body(None), session: Session = DBSession) -> dict | JSONResponse:
    caller = relying_party(request)
    try:
        ratelimit.verification_call(request, caller)
        return service.verify(
            session,
            caller,
            payload,
            secrets_=request.app.state.secrets,
            quota=request.app.state.settings.verification_quota,
        )
    except service.VerificationError as exc:
        return _refusal(400, "invalid_request", str(exc))
    except ratelimit.RateLimited as exc:
        return _refusal(429, "too_many_requests", str(exc), exc.retry_after)
    except audit.QuotaExceeded as exc:  # returned, not raised: the refused questions stay recorded
        return _refusal(429, "quota_exceeded", str(exc), exc.retry_after)
