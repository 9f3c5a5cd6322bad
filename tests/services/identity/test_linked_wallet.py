"""Wallet login by QR code (linked authorization) end to end, and wallet key binding."""

from __future__ import annotations

import re
import time

import pytest
from authlib.integrations.httpx_client import OAuth2Client
from authlib.jose import jwt
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from cryptography import x509
from joserfc import jwt as jose_jwt
from joserfc.jwk import ECKey

from tests.services.identity.helpers import (
    ADMIN_TOKEN,
    KOFI,
    PIN,
    PKCE,
    VERIFIER,
    Browser,
    client_key,
    new_client_id,
    register,
)

REDIRECT = "https://rp.example/callback"
NOW = "2026-11-22T10:00:00.000Z"


def env(request: dict) -> dict:
    return {"requestTime": NOW, "request": request}


@pytest.fixture(scope="module")
def discovery(http):
    return http.get("/.well-known/openid-configuration").json()


@pytest.fixture(scope="module")
def rp(http):
    client_id, key = new_client_id(), client_key(0)
    register(http, client_id, key)
    return client_id, key


class QRLogin:
    """The login page side: a browser on /authorize that shows the QR code and long-polls."""

    def __init__(self, live, rp, discovery, scope="openid profile email"):  # noqa: ANN001
        client_id, key = rp
        self.client = OAuth2Client(
            client_id,
            client_secret=key.as_dict(private=True),
            redirect_uri=REDIRECT,
            scope=scope,
            token_endpoint_auth_method=PrivateKeyJWT(discovery["token_endpoint"]),
        )
        self.client.register_client_auth_method(PrivateKeyJWT(discovery["token_endpoint"]))
        self.url, self.state = self.client.create_authorization_url(
            discovery["authorization_endpoint"], nonce="n", **PKCE
        )
        self.browser = Browser(live.url)
        page = self.browser.open(self.url).text
        self.transaction_id = re.search(r"const tx = \"([^\"]+)\"", page).group(1)
        self.xsrf = self.browser.http.cookies["XSRF-TOKEN"]

    def call(self, path: str, request: dict, xsrf: str | None = "cookie"):  # noqa: ANN201
        headers = {"X-XSRF-TOKEN": self.xsrf if xsrf == "cookie" else xsrf} if xsrf else {}
        return self.browser.http.post(path, json=env(request), headers=headers)


def wallet_post(http, path: str, request: dict) -> dict:  # noqa: ANN001
    response = http.post(path, json=env(request))
    assert response.status_code == 200, response.text
    return response.json()


def test_wallet_login_by_qr_code_end_to_end(live, http, rp, discovery):
    login = QRLogin(live, rp, discovery)
    # XSRF: the browser calls need the header matching the cookie issued for this transaction
    assert (
        login.call("/linked-authorization/link-code", {"transactionId": login.transaction_id}, xsrf=None).status_code
        == 403
    )
    assert (
        login.call(
            "/linked-authorization/link-code", {"transactionId": login.transaction_id}, xsrf="forged"
        ).status_code
        == 403
    )
    linked = login.call("/linked-authorization/link-code", {"transactionId": login.transaction_id}).json()
    assert linked["errors"] == []
    link_code = linked["response"]["linkCode"]
    assert linked["response"]["transactionId"] == login.transaction_id and linked["response"]["expireDateTime"]
    qr = login.browser.http.get("/linked-authorization/link-code-qr", params={"linkCode": link_code})
    assert qr.status_code == 200 and "<svg" in qr.text

    waiting = login.call(
        "/linked-authorization/link-status", {"transactionId": login.transaction_id, "linkCode": link_code}
    ).json()
    assert waiting["errors"][0]["errorCode"] == "response_timeout"

    # the wallet scans the QR code
    details = wallet_post(http, "/linked-authorization/link-transaction", {"linkCode": link_code})["response"]
    assert details["clientName"] == f"Test {rp[0]}"
    assert {"type": "PIN"} in [f[0] for f in details["authFactors"]]
    assert "name" in details["voluntaryClaims"] and "email" in details["voluntaryClaims"]
    linked_id = details["linkTransactionId"]
    reused = wallet_post(http, "/linked-authorization/link-transaction", {"linkCode": link_code})
    assert reused["errors"][0]["errorCode"] == "invalid_link_code"

    status = login.call(
        "/linked-authorization/link-status", {"transactionId": login.transaction_id, "linkCode": link_code}
    ).json()
    assert status["response"]["linkStatus"] == "LINKED"

    bad = wallet_post(
        http,
        "/linked-authorization/authenticate",
        {
            "linkedTransactionId": linked_id,
            "individualId": KOFI["vid"],
            "challengeList": [{"authFactorType": "PIN", "challenge": "0000", "format": "number"}],
        },
    )
    assert bad["errors"][0]["errorCode"] == "auth_failed"
    early_consent = wallet_post(
        http, "/linked-authorization/consent", {"linkedTransactionId": linked_id, "acceptedClaims": ["name"]}
    )
    assert early_consent["errors"][0]["errorCode"] == "invalid_transaction"
    ok = wallet_post(
        http,
        "/linked-authorization/authenticate",
        {
            "linkedTransactionId": linked_id,
            "individualId": KOFI["vid"],
            "challengeList": [{"authFactorType": "PIN", "challenge": PIN, "format": "number"}],
        },
    )
    assert ok["errors"] == [] and ok["response"]["linkedTransactionId"] == linked_id
    not_requested = wallet_post(
        http, "/linked-authorization/consent", {"linkedTransactionId": linked_id, "acceptedClaims": ["phone_number"]}
    )
    assert not_requested["errors"][0]["errorCode"] == "invalid_accepted_claim"
    consented = wallet_post(
        http,
        "/linked-authorization/consent",
        {"linkedTransactionId": linked_id, "acceptedClaims": ["name"], "permittedAuthorizeScopes": ["profile"]},
    )
    assert consented["errors"] == []

    auth_code = login.call(
        "/linked-authorization/link-auth-code", {"transactionId": login.transaction_id, "linkedCode": link_code}
    ).json()["response"]
    assert auth_code["redirectUri"] == REDIRECT and auth_code["state"] == login.state and auth_code["nonce"] == "n"
    token = login.client.fetch_token(
        discovery["token_endpoint"], code=auth_code["code"], state=login.state, code_verifier=VERIFIER
    )
    jwks = http.get("/.well-known/jwks.json").json()
    assert jwt.decode(token["id_token"], jwks)["acr"] == "idbb:acr:static-code"
    info = jwt.decode(login.client.get(discovery["userinfo_endpoint"]).text, jwks)
    assert info["name"] == KOFI["name"] and "email" not in info
    second = login.call(
        "/linked-authorization/link-auth-code", {"transactionId": login.transaction_id, "linkedCode": link_code}
    ).json()
    assert second["errors"][0]["errorCode"] == "invalid_transaction"


@pytest.fixture(scope="module")
def partner(http):
    response = http.post(
        "/admin/wallet-partners",
        json={"partnerId": "sandbox-wallet"},
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    )
    assert response.status_code == 200
    return {"PARTNER-ID": "sandbox-wallet", "PARTNER-API-KEY": response.json()["apiKey"]}


def bind(http, partner, key, challenge=PIN):  # noqa: ANN001
    return http.post(
        "/wallet-binding",
        headers=partner,
        json=env(
            {
                "individualId": KOFI["vid"],
                "authFactorType": "WLA",
                "format": "jwt",
                "challengeList": [{"authFactorType": "PIN", "challenge": challenge, "format": "number"}],
                "publicKey": key.as_dict(private=False),
            }
        ),
    ).json()


def test_wallet_binding_then_wallet_local_authentication(live, http, rp, discovery, partner):
    wallet_key = ECKey.generate_key("P-256", private=True)
    assert bind(http, partner, wallet_key, challenge="9999")["errors"][0]["errorCode"] == "invalid_auth_challenge"
    wrong_key = http.post("/wallet-binding", headers={**partner, "PARTNER-API-KEY": "nope"}, json=env({}))
    assert wrong_key.status_code == 401
    bound = bind(http, partner, wallet_key)
    assert bound["errors"] == []
    wallet_user_id = bound["response"]["walletUserId"]
    certificate = x509.load_pem_x509_certificate(bound["response"]["certificate"].encode())
    assert certificate.subject.rfc4514_string() == f"CN={wallet_user_id}"
    assert certificate.issuer.rfc4514_string() == f"CN={discovery['issuer']}"
    assert bind(http, partner, wallet_key)["errors"][0]["errorCode"] == "duplicate_public_key"

    login = QRLogin(live, rp, discovery, scope="openid")
    link_code = login.call("/linked-authorization/link-code", {"transactionId": login.transaction_id}).json()[
        "response"
    ]["linkCode"]
    linked_id = wallet_post(http, "/linked-authorization/link-transaction", {"linkCode": link_code})["response"][
        "linkTransactionId"
    ]
    other_key = ECKey.generate_key("P-256", private=True)
    forged = jose_jwt.encode({"alg": "ES256"}, {"sub": wallet_user_id, "iat": int(time.time())}, other_key)
    refused = wallet_post(
        http,
        "/linked-authorization/authenticate",
        {
            "linkedTransactionId": linked_id,
            "individualId": KOFI["vid"],
            "challengeList": [{"authFactorType": "WLA", "challenge": forged, "format": "jwt"}],
        },
    )
    assert refused["errors"][0]["errorCode"] == "auth_failed"
    signed = jose_jwt.encode({"alg": "ES256"}, {"sub": wallet_user_id, "iat": int(time.time())}, wallet_key)
    ok = wallet_post(
        http,
        "/linked-authorization/authenticate",
        {
            "linkedTransactionId": linked_id,
            "individualId": KOFI["vid"],
            "challengeList": [{"authFactorType": "WLA", "challenge": signed, "format": "jwt"}],
        },
    )
    assert ok["errors"] == []
    wallet_post(http, "/linked-authorization/consent", {"linkedTransactionId": linked_id, "acceptedClaims": []})
    code = login.call(
        "/linked-authorization/link-auth-code", {"transactionId": login.transaction_id, "linkedCode": link_code}
    ).json()["response"]["code"]
    token = login.client.fetch_token(discovery["token_endpoint"], code=code, state=login.state, code_verifier=VERIFIER)
    assert jwt.decode(token["id_token"], http.get("/.well-known/jwks.json").json())["acr"] == "idbb:acr:linked-wallet"


@pytest.mark.parametrize("path", ["/linked-authorization/authenticate", "/linked-authorization/consent"])
def test_an_unknown_linked_transaction_id_follows_the_spec(http, path):
    """CONFORMANCE.md: where the spec offers both codes, an unknown id is `invalid_transaction_id`, and an error
    envelope carries no `"response": null` (the spec's `response` is a non-nullable object)."""
    answer = wallet_post(http, path, {"linkedTransactionId": "no-such-transaction", "challengeList": []})
    assert answer["errors"][0]["errorCode"] == "invalid_transaction_id"
    assert "response" not in answer and answer["responseTime"]
