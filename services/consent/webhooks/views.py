from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from sqlalchemy.orm import Session

from services.common.app import DBSession, im_caller
from services.common.callback_targets import RefusedTarget, check_callback_target
from services.consent import docs_models
from services.consent.api import Page, page, secret_box
from services.consent.docs_models import doc
from services.consent.errors import bad_request
from services.consent.webhooks import events, service
from services.consent.webhooks.schemas import WebhookBody

router = APIRouter(tags=["notification"])
DB = Annotated[Session, DBSession]
Paging = Annotated[Page, Depends(page)]
Box = Annotated[object, Depends(secret_box)]


def check_target(request: Request, body: WebhookBody) -> None:
    """Deliveries to an IM URL carry Consent's IM credential: the URL must be an IM service of the registering
    application (the controller) or allow-listed, never another member's (services/common/callback_targets.py)."""
    settings = request.app.state.settings
    caller = im_caller(request)
    try:
        check_callback_target(
            body.webhook.payloadUrl, caller.client if caller else None, settings.im_url, settings.callback_allow_list
        )
    except RefusedTarget as exc:
        raise bad_request(f"payloadUrl {exc}") from exc


@router.post("/config/webhook/", operation_id="configWebhookCreate", responses=doc(docs_models.WebhookOnly))
def create_webhook(body: WebhookBody, request: Request, session: DB, box: Box) -> dict:
    """Subscribe a URL to events. The HMAC `secretKey` (yours, or generated) is returned only here. The URL is
    an IM service of the calling application (or on the operator's allow-list)."""
    check_target(request, body)
    return {"webhook": service.create(session, box, body.webhook)}


@router.get("/config/webhook/{webhookId}/", operation_id="configWebhookRead", responses=doc(docs_models.WebhookOnly))
def read_webhook(webhookId: str, session: DB, revisionId: str | None = None) -> dict:
    return {"webhook": service.as_api(service.get(session, webhookId))}


@router.put("/config/webhook/{webhookId}/", operation_id="configWebhookUpdate", responses=doc(docs_models.WebhookOnly))
def update_webhook(webhookId: str, body: WebhookBody, request: Request, session: DB, box: Box) -> dict:
    """Replace a webhook's settings; send `secretKey` to rotate it (omit or send the mask to keep it)."""
    check_target(request, body)
    return {"webhook": service.update_hook(session, box, webhookId, body.webhook)}


@router.delete("/config/webhook/{webhookId}/", operation_id="configWebhookDelete")
def delete_webhook(webhookId: str, session: DB) -> dict:
    service.delete(session, webhookId)
    return {"deleted": webhookId}


@router.get("/config/webhooks/", operation_id="configWebhookList", responses=doc(docs_models.Webhooks))
def list_webhooks(session: DB, paging: Paging, revisionId: str | None = None) -> dict:
    return {"webhooks": service.listing(session, paging.offset, paging.limit)}


@router.get("/config/webhook/{webhookId}/deliveries/", operation_id="configWebhookDeliveryList")
def list_deliveries(webhookId: str, session: DB, paging: Paging) -> dict:
    """Extension: delivery status of a webhook's events (pending, delivered, failed, cancelled)."""
    return {"deliveries": service.deliveries(session, webhookId, paging.offset, paging.limit)}


@router.get("/config/webhook-events/", operation_id="configWebhookEventList")
def list_events() -> dict:
    """Extension: the event names a webhook can subscribe to."""
    return {"webhookEvents": [{"id": name, "name": name} for name in events.ALL]}
