"""Client management: the spec's envelope, validation error codes (HTTP 200 + errors[]) and admin auth."""

from __future__ import annotations

import pytest

from tests.services.identity.helpers import ADMIN_TOKEN, PKCE, client_key, client_request, new_client_id, register

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def update_body(**overrides) -> dict:
    request = {
        "clientName": "Renamed",
        "status": "active",
        "logoUri": "https://rp.example/new.png",
        "redirectUris": ["https://rp.example/new-callback"],
        "userClaims": ["name"],
        "authContextRefs": ["idbb:acr:static-code"],
        "grantTypes": ["authorization_code"],
        "clientAuthMethods": ["private_key_jwt"],
    }
    request.update(overrides)
    return {"requestTime": "2026-11-22T10:00:00.000Z", "request": request}


def test_create_answers_the_client_id_and_refuses_duplicates(http):
    client_id = new_client_id()
    created = register(http, client_id, client_key(0))
    assert created["response"] == {"clientId": client_id} and created["errors"] == []
    assert created["responseTime"].endswith("Z")
    again = http.post("/client-mgmt/oidc-client", json=client_request(client_id, client_key(0)), headers=ADMIN)
    assert again.status_code == 200
    assert [e["errorCode"] for e in again.json()["errors"]] == ["duplicate_client_id"]


def test_admin_token_is_required(http):
    body = client_request(new_client_id(), client_key(0))
    assert http.post("/client-mgmt/oidc-client", json=body).status_code == 401
    assert (
        http.post("/client-mgmt/oidc-client", json=body, headers={"Authorization": "Bearer wrong"}).status_code == 401
    )
    assert http.put("/client-mgmt/oidc-client/x", json=update_body()).status_code == 401


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("clientId", "", "invalid_client_id"),
        ("clientId", "x" * 51, "invalid_client_id"),
        ("clientName", "", "invalid_client_name"),
        ("relyingPartyId", "", "invalid_rp_id"),
        ("logoUri", "not a uri", "invalid_uri"),
        ("redirectUris", [], "invalid_redirect_uri"),
        ("redirectUris", ["https://a.example/cb", "https://a.example/cb"], "invalid_redirect_uri"),
        ("redirectUris", ["relative/path"], "invalid_redirect_uri"),
        ("userClaims", ["shoe_size"], "invalid_claim"),
        ("authContextRefs", ["idbb:acr:password"], "invalid_acr"),
        ("grantTypes", ["client_credentials"], "invalid_grant_type"),
        ("clientAuthMethods", ["client_secret_basic"], "invalid_client_auth"),
        ("publicKey", {}, "invalid_public_key"),
        ("publicKey", {"kty": "oct", "k": "abc"}, "invalid_public_key"),
    ],
)
def test_create_validation_errors_use_the_spec_codes(http, field, value, code):
    client_id = new_client_id()
    body = client_request(client_id, client_key(0), **{field: value})
    response = http.post("/client-mgmt/oidc-client", json=body, headers=ADMIN)
    assert response.status_code == 200
    assert code in [e["errorCode"] for e in response.json()["errors"]]
    assert "response" not in response.json()
    if field != "clientId":  # nothing was created
        ok = http.post("/client-mgmt/oidc-client", json=client_request(client_id, client_key(0)), headers=ADMIN)
        assert ok.json()["errors"] == []


def test_a_private_key_is_refused_as_public_key(http):
    body = client_request(new_client_id(), client_key(0), publicKey=client_key(0).as_dict(private=True))
    response = http.post("/client-mgmt/oidc-client", json=body, headers=ADMIN)
    assert [e["errorCode"] for e in response.json()["errors"]] == ["invalid_public_key"]


def test_malformed_envelopes_are_invalid_request(http):
    for body in ({}, {"request": {}}, {"requestTime": "2026-11-22T10:00:00Z"}, []):
        response = http.post("/client-mgmt/oidc-client", json=body, headers=ADMIN)
        assert response.status_code == 200
        assert [e["errorCode"] for e in response.json()["errors"]] == ["invalid_request"]
    broken = http.post(
        "/client-mgmt/oidc-client", content=b"{not json", headers={**ADMIN, "content-type": "application/json"}
    )
    assert broken.status_code == 200 and broken.json()["errors"][0]["errorCode"] == "invalid_request"


def test_update_changes_the_client(http):
    client_id = new_client_id()
    register(http, client_id, client_key(0))
    response = http.put(f"/client-mgmt/oidc-client/{client_id}", json=update_body(), headers=ADMIN)
    assert response.json() == {
        "responseTime": response.json()["responseTime"],
        "response": {"clientId": client_id},
        "errors": [],
    }
    # the new redirect URI is accepted, the old one no longer
    params = {"client_id": client_id, "response_type": "code", "scope": "openid", **PKCE}
    assert (
        http.get("/authorize", params={**params, "redirect_uri": "https://rp.example/new-callback"}).status_code == 200
    )
    assert http.get("/authorize", params={**params, "redirect_uri": "https://rp.example/callback"}).status_code == 400


def test_update_validation_errors_and_unknown_client(http):
    client_id = new_client_id()
    register(http, client_id, client_key(0))
    unknown = http.put("/client-mgmt/oidc-client/does-not-exist", json=update_body(), headers=ADMIN)
    assert [e["errorCode"] for e in unknown.json()["errors"]] == ["invalid_client_id"]
    for field, value, code in [
        ("clientName", "", "invalid_client_name"),
        ("userClaims", [], "invalid_claim"),
        ("authContextRefs", ["nope"], "invalid_acr"),
        ("redirectUris", ["x"], "invalid_redirect_uri"),
        ("status", "deleted", "invalid_request"),
        ("grantTypes", ["implicit"], "invalid_grant_type"),
        ("clientAuthMethods", ["none"], "invalid_client_auth"),
        ("logoUri", "ftp:/x", "invalid_uri"),
    ]:
        response = http.put(f"/client-mgmt/oidc-client/{client_id}", json=update_body(**{field: value}), headers=ADMIN)
        assert code in [e["errorCode"] for e in response.json()["errors"]], (field, response.json())


def test_an_inactive_client_cannot_log_anyone_in(http):
    client_id = new_client_id()
    register(http, client_id, client_key(0))
    http.put(f"/client-mgmt/oidc-client/{client_id}", json=update_body(status="inactive"), headers=ADMIN)
    page = http.get(
        "/authorize",
        params={
            "client_id": client_id,
            "response_type": "code",
            "scope": "openid",
            "redirect_uri": "https://rp.example/new-callback",
        },
    )
    assert page.status_code == 400 and "invalid_client_id" in page.text
