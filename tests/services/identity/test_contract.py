"""Every documented operation of Identity-Provider.yaml and enrollment.yaml, its positive and negative answers
validated against the GovStack OpenAPI files with openapi-core, on a running Identity service (SQLite, or
PostgreSQL with TEST_DATABASE_URL). README "Conformance" lists each operation and where it differs on purpose."""

from __future__ import annotations

import re
import time
import uuid

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from tests.services.identity.contract import error_codes, require_specs, validate
from tests.services.identity.helpers import (
    ADMIN_TOKEN,
    KOFI,
    NOW,
    PIN,
    REDIRECT,
    VERIFIER,
    Browser,
    authorize_url,
    client_key,
    client_request,
    new_client_id,
    query_of,
    register,
)

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@pytest.fixture(autouse=True)
def specs() -> None:
    require_specs()


def env(request: dict) -> dict:
    return {"requestTime": NOW, "request": request}


@pytest.fixture(scope="module")
def rp(http):
    client_id, key = new_client_id(), client_key(0)
    register(http, client_id, key)
    return client_id, key


class Login:
    """The browser side of a wallet login: a login page's transaction, its XSRF cookie and header."""

    def __init__(self, base_url: str, client_id: str):
        self.http = httpx.Client(base_url=base_url, timeout=30)
        page = self.http.get(authorize_url(client_id, scope="openid profile", state="s-1", nonce="n-1")).text
        self.transaction_id = re.search(r"const tx = \"([^\"]+)\"", page).group(1)
        self.xsrf = {"X-XSRF-TOKEN": self.http.cookies["XSRF-TOKEN"]}

    def post(self, path: str, request: dict, *, xsrf: bool = True) -> httpx.Response:
        return self.http.post(path, json=env(request), headers=self.xsrf if xsrf else {})

    def link_code(self) -> str:
        answer = self.post("/linked-authorization/link-code", {"transactionId": self.transaction_id})
        return answer.json()["response"]["linkCode"]


def wallet(http: httpx.Client, path: str, request: dict) -> httpx.Response:
    return http.post(path, json=env(request))


def linked(http: httpx.Client, login: Login) -> tuple[str, str]:
    """(link code, linked transaction id): the wallet scanned the page's QR code."""
    code = login.link_code()
    answer = wallet(http, "/linked-authorization/link-transaction", {"linkCode": code})
    return code, answer.json()["response"]["linkTransactionId"]


def pin_login(http: httpx.Client, linked_id: str, pin: str = PIN, **request: object) -> httpx.Response:
    body = {
        "linkedTransactionId": linked_id,
        "individualId": KOFI["vid"],
        "challengeList": [{"authFactorType": "PIN", "challenge": pin, "format": "number"}],
        **request,
    }
    return wallet(http, "/linked-authorization/authenticate", body)


# ---- OIDC ------------------------------------------------------------------------------------------------


def test_discovery_and_jwks(http):
    discovery = http.get("/.well-known/openid-configuration")
    validate(discovery)
    assert discovery.json()["scopes_supported"] == ["openid"]
    jwks = http.get("/.well-known/jwks.json")
    validate(jwks)
    assert jwks.json()["keys"]


def test_authorize(http, rp):
    page = http.get(authorize_url(rp[0]))
    assert page.status_code == 200
    validate(page)
    # every error after the client and redirect URI are known goes back to the client by redirect (the spec's
    # description); an unknown client or redirect URI is shown on the page (a contradiction we keep)
    refused = http.get(authorize_url(rp[0], scope="profile"))
    assert refused.status_code == 303 and query_of(refused.headers["location"])["error"] == "invalid_scope"
    assert http.get(authorize_url("no-such-client")).status_code == 400


def client_assertion(client_id: str, key: RSAKey, audience: str, **claims: object) -> str:
    now = int(time.time())
    payload = {"iss": client_id, "sub": client_id, "aud": audience, "iat": now, "exp": now + 60}
    return jwt.encode({"alg": "RS256", "kid": key.kid}, {**payload, "jti": uuid.uuid4().hex, **claims}, key)


def token_form(live, rp, code: str, **overrides: str) -> dict:  # noqa: ANN001
    client_id, key = rp
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "client_id": client_id,
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": client_assertion(client_id, key, f"{live.url}/oauth/token"),
        "redirect_uri": REDIRECT,
        "code_verifier": VERIFIER,
    }
    return {k: v for k, v in {**form, **overrides}.items() if v is not None}


def test_token_and_userinfo(live, http, rp):
    code = query_of(Browser(live.url).login_with_otp(authorize_url(rp[0], scope="openid profile")))["code"]
    refused = [
        (token_form(live, rp, code, client_assertion_type="other"), "invalid_assertion_type"),
        (token_form(live, rp, code, client_assertion="not.a.jwt"), "invalid_assertion"),
        (token_form(live, rp, "no-such-code"), "invalid_transaction"),
        (token_form(live, rp, code, grant_type="password"), "invalid_request"),
    ]
    for form, error in refused:
        answer = http.post("/oauth/token", data=form)
        assert (answer.status_code, answer.json()["error"]) == (400, error)
        validate(answer)
    issued = http.post("/oauth/token", data=token_form(live, rp, code))
    assert issued.status_code == 200, issued.text
    validate(issued)
    replayed = http.post("/oauth/token", data=token_form(live, rp, code))
    assert replayed.json()["error"] == "invalid_transaction"
    validate(replayed)

    other = query_of(Browser(live.url).login_with_otp(authorize_url(rp[0])))["code"]
    fresh = http.post("/oauth/token", data=token_form(live, rp, other)).json()["access_token"]
    info = http.get("/oidc/userinfo", headers={"Authorization": f"Bearer {fresh}"})
    assert info.status_code == 200 and info.headers["content-type"].startswith("application/jwt")
    validate(info)
    anonymous = http.get("/oidc/userinfo")
    assert anonymous.status_code == 401
    # RFC 6750's challenge, which the spec's description shows; its header schema lists the bare error codes
    assert anonymous.headers["www-authenticate"].startswith('Bearer error="invalid_token"')
    validate(anonymous, ignore_headers=("www-authenticate",))


# ---- client management -----------------------------------------------------------------------------------


def test_create_oidc_client(http):
    client_id = new_client_id()
    created = http.post("/client-mgmt/oidc-client", json=client_request(client_id, client_key(1)), headers=ADMIN)
    assert created.json()["response"] == {"clientId": client_id}
    validate(created)
    refused = [
        (client_request(client_id, client_key(1)), ["duplicate_client_id"]),
        (
            client_request(new_client_id(), client_key(1), clientName="", logoUri="nope"),
            ["invalid_client_name", "invalid_uri"],
        ),
        (client_request(new_client_id(), client_key(1), encPublicKey={"kty": "RSA"}), ["invalid_public_key"]),
        ({"request": {}}, ["invalid_request"]),
    ]
    for body, codes in refused:
        answer = http.post("/client-mgmt/oidc-client", json=body, headers=ADMIN)
        assert answer.status_code == 200 and error_codes(answer) == codes, answer.text
        assert "response" not in answer.json()
        validate(answer)
    malformed = http.post(
        "/client-mgmt/oidc-client", content=b"{", headers={**ADMIN, "Content-Type": "application/json"}
    )
    assert error_codes(malformed) == ["invalid_request"]
    validate(malformed)
    anonymous = http.post("/client-mgmt/oidc-client", json=client_request(new_client_id(), client_key(1)))
    assert anonymous.status_code == 401
    validate(anonymous)


def update_request(**overrides: object) -> dict:
    request = {
        "clientName": "Renamed",
        "status": "active",
        "logoUri": "https://rp.example/logo.png",
        "redirectUris": [REDIRECT],
        "userClaims": ["name"],
        "authContextRefs": ["idbb:acr:generated-code"],
        "grantTypes": ["authorization_code"],
        "clientAuthMethods": ["private_key_jwt"],
        **overrides,
    }
    return env(request)


def test_update_oidc_client(http):
    client_id = new_client_id()
    register(http, client_id, client_key(1))
    updated = http.put(f"/client-mgmt/oidc-client/{client_id}", json=update_request(), headers=ADMIN)
    assert updated.json()["response"] == {"clientId": client_id}
    validate(updated)
    refused = [
        (client_id, update_request(status="paused"), ["invalid_request"]),
        (client_id, update_request(userClaims=["shoe_size"]), ["invalid_claim"]),
        # the update's error codes have no invalid_public_key: the extension field's refusal is invalid_request
        (client_id, update_request(encPublicKey={"kty": "RSA"}), ["invalid_request"]),
        ("no-such-client", update_request(), ["invalid_client_id"]),
    ]
    for target, body, codes in refused:
        answer = http.put(f"/client-mgmt/oidc-client/{target}", json=body, headers=ADMIN)
        assert answer.status_code == 200 and error_codes(answer) == codes, answer.text
        validate(answer)
    # 401 without the token: the update lists only 200, but is secured by a bearer token like the create
    anonymous = http.put(f"/client-mgmt/oidc-client/{client_id}", json=update_request())
    assert anonymous.status_code == 401 and anonymous.headers.get("www-authenticate", "").startswith("Bearer")


# ---- wallet (linked authorization) -----------------------------------------------------------------------


def test_link_code(live, rp):
    login = Login(live.url, rp[0])
    issued = login.post("/linked-authorization/link-code", {"transactionId": login.transaction_id})
    assert issued.json()["response"]["transactionId"] == login.transaction_id
    validate(issued)
    for request, code in (
        ({"transactionId": "no-such-transaction"}, "invalid_transaction_id"),
        ({}, "invalid_transaction_id"),
    ):
        answer = login.post("/linked-authorization/link-code", request)
        assert error_codes(answer) == [code]
        validate(answer)
    no_envelope = login.http.post("/linked-authorization/link-code", json={"transactionId": login.transaction_id})
    assert error_codes(no_envelope) == ["invalid_request"]
    validate(no_envelope)
    # a failed XSRF check is 403 (what eSignet answers), with the documented body
    forged = login.post("/linked-authorization/link-code", {"transactionId": login.transaction_id}, xsrf=False)
    assert forged.status_code == 403 and error_codes(forged) == ["invalid_request"]
    validate(forged, documented_as=200)


def test_link_transaction_and_link_status(live, http, rp):
    login = Login(live.url, rp[0])
    code = login.link_code()
    waiting = login.post("/linked-authorization/link-status", {"transactionId": login.transaction_id, "linkCode": code})
    assert error_codes(waiting) == ["response_timeout"]
    validate(waiting)
    details = wallet(http, "/linked-authorization/link-transaction", {"linkCode": code})
    assert details.json()["response"]["authorizeScopes"] == ["profile"]
    validate(details)
    for request in ({"linkCode": code}, {"linkCode": "NOSUCHCODE12"}, {}):
        answer = wallet(http, "/linked-authorization/link-transaction", request)
        assert error_codes(answer) == ["invalid_link_code"]
        validate(answer)
    done = login.post("/linked-authorization/link-status", {"transactionId": login.transaction_id, "linkCode": code})
    assert done.json()["response"]["linkStatus"] == "LINKED"
    validate(done)
    for request, error in (
        ({"transactionId": login.transaction_id, "linkCode": "NOSUCHCODE12"}, "invalid_link_code"),
        ({"transactionId": "no-such-transaction", "linkCode": code}, "invalid_transaction_id"),
    ):
        answer = login.post("/linked-authorization/link-status", request)
        assert error_codes(answer) == [error]
        validate(answer)


def test_linked_authenticate_consent_and_auth_code(live, http, rp):
    login = Login(live.url, rp[0])
    code, linked_id = linked(http, login)
    refused = [
        (pin_login(http, "no-such-transaction"), "invalid_transaction_id"),
        (pin_login(http, linked_id, individualId=""), "invalid_identifier"),
        (pin_login(http, linked_id, challengeList=[]), "invalid_no_of_challenges"),
        (pin_login(http, linked_id, challengeList=[{"authFactorType": "PIN", "challenge": PIN}]), "invalid_request"),
        (pin_login(http, linked_id, pin="0000"), "auth_failed"),
        (wallet(http, "/linked-authorization/consent", {"linkedTransactionId": linked_id}), "invalid_transaction"),
    ]
    for answer, error in refused:
        assert error_codes(answer) == [error], answer.text
        validate(answer)
    waiting = login.post(
        "/linked-authorization/link-auth-code", {"transactionId": login.transaction_id, "linkedCode": code}
    )
    assert error_codes(waiting) == ["response_timeout"]
    validate(waiting)

    authenticated = pin_login(http, linked_id)
    assert authenticated.json()["response"] == {"linkedTransactionId": linked_id}
    validate(authenticated)
    again = pin_login(http, linked_id)
    assert error_codes(again) == ["invalid_transaction"]
    validate(again)
    for request, error in (
        ({"linkedTransactionId": "no-such-transaction"}, "invalid_transaction_id"),
        ({"linkedTransactionId": linked_id, "acceptedClaims": ["phone_number"]}, "invalid_accepted_claim"),
        ({"linkedTransactionId": linked_id, "permittedAuthorizeScopes": ["email"]}, "invalid_permitted_scope"),
    ):
        answer = wallet(http, "/linked-authorization/consent", request)
        assert error_codes(answer) == [error]
        validate(answer)
    consented = wallet(
        http,
        "/linked-authorization/consent",
        {"linkedTransactionId": linked_id, "acceptedClaims": ["name"], "permittedAuthorizeScopes": ["profile"]},
    )
    assert consented.json()["response"] == {"linkedTransactionId": linked_id}
    validate(consented)

    for request, error in (
        ({"transactionId": login.transaction_id, "linkedCode": "NOSUCHCODE12"}, "invalid_link_code"),
        ({"transactionId": "no-such-transaction", "linkedCode": code}, "invalid_transaction_id"),
    ):
        answer = login.post("/linked-authorization/link-auth-code", request)
        assert error_codes(answer) == [error]
        validate(answer)
    handed = login.post(
        "/linked-authorization/link-auth-code", {"transactionId": login.transaction_id, "linkedCode": code}
    )
    assert handed.json()["response"]["state"] == "s-1" and handed.json()["response"]["nonce"] == "n-1"
    validate(handed)
    second = login.post(
        "/linked-authorization/link-auth-code", {"transactionId": login.transaction_id, "linkedCode": code}
    )
    assert error_codes(second) == ["invalid_transaction"]
    validate(second)
    complete = login.post("/linked-authorization/link-code", {"transactionId": login.transaction_id})
    assert error_codes(complete) == ["invalid_transaction"]
    validate(complete)


@pytest.fixture(scope="module")
def partner(http):
    answer = http.post("/admin/wallet-partners", json={"partnerId": "contract-wallet"}, headers=ADMIN)
    return {"PARTNER-ID": "contract-wallet", "PARTNER-API-KEY": answer.json()["apiKey"]}


def binding(key: ECKey, **overrides: object) -> dict:
    request = {
        "individualId": KOFI["vid"],
        "authFactorType": "WLA",
        "format": "jwt",
        "challengeList": [{"authFactorType": "PIN", "challenge": PIN, "format": "number"}],
        "publicKey": key.as_dict(private=False),
        **overrides,
    }
    return env(request)


def test_wallet_binding(http, partner):
    key = ECKey.generate_key("P-256", private=True)
    bound = http.post("/wallet-binding", json=binding(key), headers=partner)
    assert bound.json()["response"]["walletUserId"]
    validate(bound)
    refused = [
        (binding(key), "duplicate_public_key"),
        (binding(key, publicKey={"kty": "EC"}), "invalid_public_key"),
        (binding(key, format="pem"), "unsupported_challenge_format"),
        (
            binding(key, challengeList=[{"authFactorType": "PIN", "challenge": "0000", "format": "number"}]),
            "invalid_auth_challenge",
        ),
        (binding(key, challengeList=[]), "invalid_auth_challenge"),
        (binding(key, individualId=9038952310), "invalid_auth_challenge"),
        ({"request": {}}, "invalid_request"),
    ]
    for body, error in refused:
        answer = http.post("/wallet-binding", json=body, headers=partner)
        assert answer.status_code == 200 and error_codes(answer) == [error], answer.text
        validate(answer)
    # a wrong partner key is 401 (the operation is secured), with the documented body
    stranger = http.post("/wallet-binding", json=binding(key), headers={**partner, "PARTNER-API-KEY": "nope"})
    assert stranger.status_code == 401
    validate(stranger, documented_as=200)


# ---- enrollment ------------------------------------------------------------------------------------------


def enrollment(fields: dict, process: str = "NEW", **request: object) -> dict:
    body = {"id": uuid.uuid4().hex, "refId": "10001_10002", "process": process, "source": "REGISTRATION_CLIENT"}
    return {
        "id": "govstack.enrollment",
        "version": "v1",
        "requesttime": NOW,
        "request": {**body, "fields": fields, **request},
    }


def test_enrollment(http):
    person = {"fullName": '[ { "language" : "eng", "value" : "Contract Person" } ]', "dateOfBirth": "1990-01-01"}
    step = http.put("/enrollment", json=enrollment(person, finalize=False), headers=ADMIN)
    assert step.status_code == 200 and step.json()["response"][0]["status"] == "PENDING"
    validate(step)
    created = http.put("/enrollment", json=enrollment(person), headers=ADMIN)
    assert created.status_code == 201
    validate(created)
    validate(created, documented_as=200)  # 201 documents no body; ours is the enrollmentResponse
    vid = created.json()["response"][0]["vid"]
    updated = http.put("/enrollment", json=enrollment({"VID": vid, "city": "Kenitra"}, "UPDATE"), headers=ADMIN)
    assert updated.status_code == 200
    validate(updated)

    unknown = http.put("/enrollment", json=enrollment({"VID": "0000000000"}, "UPDATE"), headers=ADMIN)
    assert unknown.status_code == 404
    validate(unknown)
    validate(unknown, documented_as=200)
    for body, status, code in (
        (enrollment(person, process="DELETE"), 400, "invalid_process"),
        (enrollment({"dateOfBirth": "2999-01-01"}), 400, "invalid_field"),
        (enrollment({"fullName": "No Birthdate"}), 400, "missing_field"),
        ({"id": 7, "request": []}, 400, "invalid_request"),
        (enrollment({**person, "email": "kofi.mensah@example.org"}), 409, "duplicate_email"),
    ):
        answer = http.put("/enrollment", json=body, headers=ADMIN)
        assert answer.status_code == status and error_codes(answer) == [code], answer.text
        assert "response" not in answer.json()
        validate(answer, documented_as=200)  # an error answer: the documented body, with `errors`
    anonymous = http.put("/enrollment", json=enrollment(person))
    assert anonymous.status_code == 401
    validate(anonymous)
