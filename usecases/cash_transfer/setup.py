"""`sandbox up` hook: register (or update) the use case's OIDC client in the Identity BB."""

from __future__ import annotations

from services.common.im_client import IMClient
from services.common.keys import load_or_create_secret
from usecases.common.hooks import RunningSandbox
from usecases.common.registration import identity_admin_token, register_client

from .settings import CashTransferSettings

EVENTS = ["consent.given", "consent.refused", "consent.withdrawn"]


def subscribe_consent_webhook(im: IMClient, settings: CashTransferSettings, secret: str) -> None:
    """One webhook at Consent (through the IM) for our callback URL; its secret is refreshed on every start."""
    url = settings.callback_base + "/callbacks/consent"
    listing = im.request_sync(settings.consent_service, "GET", "/config/webhooks/", params={"limit": 1000})
    listing.raise_for_status()
    existing = [w for w in listing.json().get("webhooks", []) if w.get("payloadUrl") == url]
    body = {
        "webhook": {
            "payloadUrl": url,
            "contentType": "application/json",
            "disabled": False,
            "secretKey": secret,
            "subscribedEvents": EVENTS,
        }
    }
    if existing:
        response = im.request_sync(settings.consent_service, "PUT", f"/config/webhook/{existing[0]['id']}/", json=body)
    else:
        response = im.request_sync(settings.consent_service, "POST", "/config/webhook/", json=body)
    if response.status_code not in (200, 201):
        raise RuntimeError(f"Consent refused the USCT webhook: {response.status_code} {response.text[:200]}")


def on_up(sandbox: RunningSandbox) -> None:
    data_dir = sandbox.data_dir / "cash_transfer"
    settings = CashTransferSettings(data_dir=data_dir, public_url=sandbox.public_url("cash_transfer"))
    if "identity" in sandbox.running:
        register_client(
            sandbox.url("identity"),
            identity_admin_token(sandbox),
            settings,
            "Social cash transfer (USCT)",
            "SOCIAL-WELFARE",
        )
    else:
        print("cash_transfer: Identity is not running; login is unavailable")  # noqa: T201
    if "consent" in sandbox.running:
        client = str(settings.im_client)
        im = IMClient(sandbox.im_url, client, sandbox.client_secrets[client])
        settings = settings.model_copy(update={"im_url": sandbox.im_url})
        subscribe_consent_webhook(im, settings, load_or_create_secret(data_dir / "secrets", "consent-webhook-secret"))
