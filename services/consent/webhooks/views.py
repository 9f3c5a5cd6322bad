from __future__ import annotations

from fastapi import APIRouter

from services.common.callback_targets import RefusedTarget, check_callback_target
from services.consent import docs_models
from services.consent.access import Principal
from services.consent.dependencies import DB, Paging, Settings, WebhookSecrets, Who
from services.consent.docs_models import doc
from services.consent.errors import bad_request
from services.consent.settings import ConsentSettings
from services.consent.webhooks import events, service
from services.consent.webhooks.schemas import WebhookBody

router = APIRouter(tags=["notification"])


def check_target(settings: ConsentSettings, body: WebhookBody, who: Principal) -> None:
    """Deliveries to an IM URL carry Consent's IM credential: the URL must be an IM service of the registering
    application (the controller) or allow-listed, never another member's (services/common/callback_targets.py)."""
    try:
        check_callback_target(body.webhook.payloadUrl, who.client, settings.im_url, settings.callback_allow_list)
    except RefusedTarget as exc:
        raise bad_request(f"payloadUrl {exc}") from exc


@router.post("/config/webhook/", operation_id="configWebhookCreate", responses=doc(docs_models.WebhookOnly))
def create_webhook(body: WebhookBody, settings: Settings, session: DB, box: WebhookSecrets, who: Who) -> dict:
    """Subscribe a URL to the events of the calling member's agreements and policies. The HMAC `secretKey`
    (yours, or generated) is returned only here. The URL is an IM service of the calling application (or on
    the operator's allow-list)."""
    check_target(settings, body, who)
    return {"webhook": service.create(session, box, body.webhook, owner=who.scope)}


@router.get("/config/webhook/{webhookId}/", operation_id="configWebhookRead", responses=doc(docs_models.WebhookOnly))
def read_webhook(webhookId: str, session: DB, who: Who, revisionId: str | None = None) -> dict:
    """One of the caller's webhooks."""
    return {"webhook": service.as_api(service.get(session, webhookId, who))}


@router.put("/config/webhook/{webhookId}/", operation_id="configWebhookUpdate", responses=doc(docs_models.WebhookOnly))
def update_webhook(
    webhookId: str, body: WebhookBody, settings: Settings, session: DB, box: WebhookSecrets, who: Who
) -> dict:
    """Replace a webhook's settings; send `secretKey` to rotate it (omit or send the mask to keep it)."""
    service.get(session, webhookId, who)
    check_target(settings, body, who)
    return {"webhook": service.update_hook(session, box, webhookId, body.webhook, who)}


@router.delete("/config/webhook/{webhookId}/", operation_id="configWebhookDelete")
def delete_webhook(webhookId: str, session: DB, who: Who) -> dict:
    service.delete(session, webhookId, who)
    return {"deleted": webhookId}


@router.get("/config/webhooks/", operation_id="configWebhookList", responses=doc(docs_models.Webhooks))
def list_webhooks(session: DB, paging: Paging, who: Who, revisionId: str | None = None) -> dict:
    """The caller's webhooks (every webhook for the operator)."""
    return {"webhooks": service.listing(session, paging.offset, paging.limit, who.scope)}


@router.get("/config/webhook/{webhookId}/deliveries/", operation_id="configWebhookDeliveryList")
def list_deliveries(webhookId: str, session: DB, paging: Paging, who: Who) -> dict:
    """Extension: delivery status of a webhook's events (pending, delivered, failed, cancelled)."""
    return {"deliveries": service.deliveries(session, webhookId, paging.offset, paging.limit, who)}


@router.get("/config/webhook-events/", operation_id="configWebhookEventList")
def list_events() -> dict:
    """Extension: the event names a webhook can subscribe to."""
    return {"webhookEvents": [{"id": name, "name": name} for name in events.ALL]}
