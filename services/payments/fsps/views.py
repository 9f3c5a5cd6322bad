"""The simulated FSPs (sandbox extension, not a GovStack API): which institutions the hub reaches."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.common.app import DBSession

from ..envelopes import answers
from .models import FSP
from .schemas import FSPView
from .service import fsp_view

router = APIRouter(prefix="/fsps", tags=["Simulated FSPs (sandbox)"])


@router.get("", summary="The simulated banks and mobile money operators behind the hub", **answers(list[FSPView]))
def list_fsps(session: Session = DBSession) -> list[dict]:
    return [fsp_view(f) for f in session.scalars(select(FSP).order_by(FSP.code))]
