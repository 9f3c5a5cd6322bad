"""The inbox: the administrator's API (`GET /admin/inbox`) and a page per resident (`GET /inbox/{id}?key=`).

A resident's messages are readable only with the administrator's token, or on the page whose link carries a
key only that API hands out (a keyed hash of the resident's UIN): the operator opens it for the demo audience.
"""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from services.identity.dependencies import AdminOnly, DbSession, ServerSecrets, Settings
from services.identity.errors import UnknownIdentity
from services.identity.identities.service import find_by_individual_id
from services.identity.notifications import service
from services.identity.notifications.schemas import Inbox
from services.identity.oidc.pages import error_page, page

router = APIRouter(tags=["Inbox"])


@router.get(
    "/admin/inbox",
    summary="Messages sent to a resident, newest first (extension)",
    response_model=Inbox,
    response_model_exclude_unset=True,
    dependencies=[AdminOnly],
)
def admin_inbox(
    session: DbSession,
    settings: Settings,
    secrets: ServerSecrets,
    individual_id: str = Query("", alias="individualId", max_length=64),
) -> dict:
    identity = find_by_individual_id(session, individual_id.strip())
    if identity is None:
        raise UnknownIdentity
    key = service.inbox_key(secrets, identity)
    base = settings.base_url.rstrip("/")
    return {
        "individualId": individual_id.strip(),
        "inboxPage": f"{base}/inbox/{individual_id.strip()}?key={key}",
        "messages": [service.as_json(m) for m in service.inbox(session, identity)],
    }


@router.get("/inbox/{individual_id}", summary="A resident's inbox page (extension)", response_class=HTMLResponse)
def inbox_page(
    individual_id: str,
    request: Request,
    session: DbSession,
    secrets: ServerSecrets,
    key: str = Query("", max_length=64),
) -> Response:
    identity = find_by_individual_id(session, individual_id)
    expected = service.inbox_key(secrets, identity) if identity is not None else ""
    if identity is None or not key or not hmac.compare_digest(key, expected):
        return error_page(request, "not_found", "No such inbox (the link is wrong or incomplete).", 404)
    name = (identity.attributes or {}).get("name") or individual_id
    return page(request, "inbox.html", resident=name, messages=service.inbox(session, identity))
