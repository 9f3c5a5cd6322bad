"""`sandbox up` hook part: register (or update) a use case's OIDC client in the Identity BB."""

from __future__ import annotations

import httpx

from services.common.clock import iso, utcnow
from services.common.keys import load_or_create_rsa
from services.common.tls import client_context

from .hooks import SandboxDataDir
from .settings import OIDC_CLAIMS, OIDC_KEY_NAME, UseCaseSettings


def client_request(settings: UseCaseSettings, public_jwk: dict, client_name: str, relying_party: str) -> dict:
    uri = settings.redirect_uri
    site = uri.rsplit("/auth/", 1)[0]
    return {
        "clientId": settings.oidc_client_id,
        "clientName": client_name,
        "relyingPartyId": relying_party,
        "logoUri": site + "/static/logo.png",
        "redirectUris": [uri],
        "backchannelLogoutUri": site + "/auth/backchannel-logout",  # a logout at Identity ends our sessions too
        "userClaims": OIDC_CLAIMS,
        "authContextRefs": ["idbb:acr:generated-code", "idbb:acr:static-code"],
        "grantTypes": ["authorization_code"],
        "clientAuthMethods": ["private_key_jwt"],
        "publicKey": public_jwk,
    }


def register_client(
    identity_url: str, admin_token: str, settings: UseCaseSettings, client_name: str, relying_party: str
) -> None:
    key = load_or_create_rsa(settings.keys_dir, OIDC_KEY_NAME)
    public = {k: v for k, v in key.as_dict(private=False).items() if k in ("kty", "n", "e", "kid", "alg", "use")}
    request = client_request(settings, public, client_name, relying_party)
    now = iso(utcnow(), "milliseconds")
    headers = {"Authorization": f"Bearer {admin_token}"}
    with httpx.Client(base_url=identity_url, headers=headers, timeout=15, verify=client_context()) as http:
        created = http.post("/client-mgmt/oidc-client", json={"requestTime": now, "request": request}).json()
        errors = created.get("errors") or []
        if errors and errors[0].get("errorCode") == "duplicate_client_id":
            update = {k: v for k, v in request.items() if k not in ("clientId", "relyingPartyId", "publicKey")}
            update["status"] = "active"
            updated = http.put(
                f"/client-mgmt/oidc-client/{settings.oidc_client_id}", json={"requestTime": now, "request": update}
            ).json()
            errors = updated.get("errors") or []
        if errors:
            raise RuntimeError(f"Identity refused the OIDC client {settings.oidc_client_id}: {errors}")


def identity_admin_token(sandbox: SandboxDataDir) -> str:
    return (sandbox.data_dir / "identity" / "secrets" / "identity-admin-token").read_text().strip()
