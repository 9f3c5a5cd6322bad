from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body

from services.identity.dependencies import AttemptSession, Caller, RateLimits, ServerSecrets, Settings
from services.identity.verification import service
from services.identity.verification.schemas import Verification

router = APIRouter(tags=["Verification"])


@router.post(
    "/v1/verification",
    summary="Yes/no identity verification",
    response_model=Verification,
    response_model_exclude_unset=True,
)
def verification(
    session: AttemptSession,
    caller: Caller,
    settings: Settings,
    secrets: ServerSecrets,
    limits: RateLimits,
    payload: Any = Body(None),
) -> dict:
    """Refusals (`invalid_request`, `too_many_requests`, `quota_exceeded`) are committed: the refused questions
    stay recorded."""
    limits.verification.hit(caller)
    return service.verify(session, caller, payload, secrets_=secrets, quota=settings.verification_quota)
