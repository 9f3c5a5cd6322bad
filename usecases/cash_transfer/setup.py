"""`sandbox up` hook: register (or update) the use case's OIDC client in the Identity BB."""
from __future__ import annotations

from datetime import UTC, datetime

import httpx

from services.common.keys import load_or_create_rsa

from .auth import CLAIMS, KEY_NAME
from .settings import CashTransferSettings


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


def on_up(sandbox) -> None:  # noqa: ANN001 - sandbox.launcher.Sandbox
    if "identity" not in sandbox.running:
        print("cash_transfer: Identity is not running; login is unavailable until it is")  # noqa: T201
        return
    data_dir = sandbox.data_dir / "cash_transfer"
    settings = CashTransferSettings(data_dir=data_dir, public_url=sandbox.url("cash_transfer"))
    token = (sandbox.data_dir / "identity" / "secrets" / "identity-admin-token").read_text().strip()
    register_client(sandbox.url("identity"), token, settings, settings.base_url.rstrip("/") + "/auth/callback")
