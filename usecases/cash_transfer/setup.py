"""`sandbox up` hook: register (or update) the use case's OIDC client in the Identity BB."""
from __future__ import annotations

from datetime import UTC, datetime

import httpx

from services.common.im_client import IMClient
from services.common.keys import load_or_create_rsa, load_or_create_secret

from .auth import CLAIMS, KEY_NAME
from .settings import CONSENT, CashTransferSettings


def client_request(settings: CashTransferSettings, public_jwk: dict, redirect_uri: str) -> dict:
    return {
        "clientId": settings.oidc_client_id, "clientName": "Social cash transfer (USCT)",
        "relyingPartyId": "SOCIAL-WELFARE", "logoUri": redirect_uri.rsplit("/auth/", 1)[0] + "/static/logo.png",
        "redirectUris": [redirect_uri], "userClaims": CLAIMS,
        "authContextRefs": ["idbb:acr:generated-code", "idbb:acr:static-code"],
        "grantTypes": ["authorization_code"], "clientAuthMethods": ["private_key_jwt"], "publicKey": public_jwk,
    }


def register_client(identity_url: str, admin_token: str, settings: CashTransferSettings, redirect_uri: str) -> None:
    key = load_or_create_rsa(settings.keys_dir, KEY_NAME)
    public = {k: v for k, v in key.as_dict(private=False).items() if k in ("kty", "n", "e", "kid", "alg", "use")}
    request = client_request(settings, public, redirect_uri)
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{datetime.now(UTC).microsecond // 1000:03d}Z"
    headers = {"Authorization": f"Bearer {admin_token}"}
    with httpx.Client(base_url=identity_url, headers=headers, timeout=15) as http:
        created = http.post("/client-mgmt/oidc-client", json={"requestTime": now, "request": request}).json()
        errors = created.get("errors") or []
        if errors and errors[0].get("errorCode") == "duplicate_client_id":
            update = {k: v for k, v in request.items() if k not in ("clientId", "relyingPartyId", "publicKey")}
            update["status"] = "active"
            updated = http.put(f"/client-mgmt/oidc-client/{settings.oidc_client_id}",
                               json={"requestTime": now, "request": update}).json()
            errors = updated.get("errors") or []
        if errors:
            raise RuntimeError(f"Identity refused the USCT OIDC client: {errors}")


EVENTS = ["consent.given", "consent.refused", "consent.withdrawn"]


def subscribe_consent_webhook(im: IMClient, settings: CashTransferSettings, secret: str) -> None:
    """One webhook at Consent (through the IM) for our callback URL; its secret is refreshed on every start."""
    url = settings.callback_base + "/callbacks/consent"
    listing = im.request_sync(CONSENT, "GET", "/config/webhooks/", params={"limit": 1000})
    listing.raise_for_status()
    existing = [w for w in listing.json().get("webhooks", []) if w.get("payloadUrl") == url]
    body = {"webhook": {"payloadUrl": url, "contentType": "application/json", "disabled": False,
                        "secretKey": secret, "subscribedEvents": EVENTS}}
    if existing:
        response = im.request_sync(CONSENT, "PUT", f"/config/webhook/{existing[0]['id']}/", json=body)
    else:
        response = im.request_sync(CONSENT, "POST", "/config/webhook/", json=body)
    if response.status_code not in (200, 201):
        raise RuntimeError(f"Consent refused the USCT webhook: {response.status_code} {response.text[:200]}")


def on_up(sandbox) -> None:  # noqa: ANN001 - sandbox.launcher.Sandbox
    data_dir = sandbox.data_dir / "cash_transfer"
    settings = CashTransferSettings(data_dir=data_dir, public_url=sandbox.url("cash_transfer"))
    if "identity" in sandbox.running:
        token = (sandbox.data_dir / "identity" / "secrets" / "identity-admin-token").read_text().strip()
        register_client(sandbox.url("identity"), token, settings, settings.base_url.rstrip("/") + "/auth/callback")
    else:
        print("cash_transfer: Identity is not running; login is unavailable")  # noqa: T201
    if "consent" in sandbox.running:
        client = "SANDBOX/GOV/SOCIAL-WELFARE/USCT"
        im = IMClient(sandbox.im_url, client, sandbox.client_secrets[client])
        settings = settings.model_copy(update={"im_url": sandbox.im_url})
        subscribe_consent_webhook(im, settings, load_or_create_secret(data_dir / "secrets", "consent-webhook-secret"))
