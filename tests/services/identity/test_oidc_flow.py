"""The authorization code flow driven by authlib's OAuth2 client with private_key_jwt."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
import uuid
from html import unescape

import httpx
import pytest
from authlib.integrations.httpx_client import OAuth2Client
from authlib.jose import JsonWebEncryption, JsonWebKey, jwt
from authlib.oauth2.rfc7523 import PrivateKeyJWT, private_key_jwt_sign
from authlib.oidc.core import CodeIDToken
from cryptography import x509

from tests.services.identity.helpers import (
    ADMIN_TOKEN,
    AMINA_VID,
    KOFI,
    OTP,
    PIN,
    PKCE,
    VERIFIER,
    Browser,
    client_key,
    new_client_id,
    query_of,
    register,
)

REDIRECT = "https://rp.example/callback"


@pytest.fixture(scope="module")
def discovery(http):
    return http.get("/.well-known/openid-configuration").json()


@pytest.fixture(scope="module")
def jwks(http):
    return JsonWebKey.import_key_set(http.get("/.well-known/jwks.json").json())


@pytest.fixture(scope="module")
def rp(http):
    """A registered relying party: (client_id, private key)."""
    client_id, key = new_client_id(), client_key(0)
    register(http, client_id, key)
    return client_id, key


def oauth_client(client_id, key, discovery, **kwargs) -> OAuth2Client:  # noqa: ANN001
    client = OAuth2Client(
        client_id,
        client_secret=key.as_dict(private=True),
        redirect_uri=REDIRECT,
        token_endpoint_auth_method=PrivateKeyJWT(discovery["token_endpoint"]),
        **kwargs,
    )
    client.register_client_auth_method(PrivateKeyJWT(discovery["token_endpoint"]))
    return client


def login(
    live,
    client_id,
    key,
    discovery,
    *,
    scope="openid profile email",
    claims=None,
    consent=None,  # noqa: ANN001
    individual_id=KOFI["vid"],
    **params,
):
    """Full flow: authorize (authlib URL), browser login with OTP, token exchange (authlib)."""
    client = oauth_client(client_id, key, discovery, scope=scope, code_challenge_method="S256")
    verifier = base64.urlsafe_b64encode(uuid.uuid4().bytes * 2).rstrip(b"=").decode()
    nonce = uuid.uuid4().hex
    extra = {"claims": json.dumps(claims)} if claims else {}
    url, state = client.create_authorization_url(
        discovery["authorization_endpoint"], nonce=nonce, code_verifier=verifier, **extra, **params
    )
    location = Browser(live.url).login_with_otp(url, individual_id, claims=consent)
    token = client.fetch_token(
        discovery["token_endpoint"], authorization_response=location, state=state, code_verifier=verifier
    )
    return client, token, nonce


def verify_id_token(token, jwks, client_id, nonce, issuer):  # noqa: ANN001
    claims = jwt.decode(
        token["id_token"],
        jwks,
        claims_cls=CodeIDToken,
        claims_options={"iss": {"essential": True, "value": issuer}},
        claims_params={"nonce": nonce, "client_id": client_id, "access_token": token["access_token"]},
    )
    claims.validate()  # iss, aud, exp, iat, nonce, at_hash
    return claims


def test_discovery_and_jwks_follow_the_spec(http, discovery):
    issuer = discovery["issuer"]
    assert discovery["token_endpoint"] == f"{issuer}/oauth/token"
    assert discovery["token_endpoint_auth_methods_supported"] == ["private_key_jwt"]
    assert discovery["id_token_signing_alg_values_supported"] == ["RS256"]
    assert {"registration_endpoint", "userinfo_endpoint", "jwks_uri", "scopes_supported"} <= discovery.keys()
    keys = http.get("/.well-known/jwks.json").json()["keys"]
    assert keys
    for key in keys:
        assert {"kid", "use", "kty", "e", "n", "x5t#S256", "x5c", "exp"} <= key.keys()
        der = base64.b64decode(key["x5c"][0])
        thumb = base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()
        assert key["x5t#S256"] == thumb
        cert = x509.load_der_x509_certificate(der)
        assert cert.public_key().public_numbers().n == int.from_bytes(base64.urlsafe_b64decode(key["n"] + "=="), "big")


def test_code_flow_with_authlib_gives_verifiable_tokens(live, http, rp, discovery, jwks):
    client_id, key = rp
    client, token, nonce = login(live, client_id, key, discovery)
    assert token["token_type"] == "Bearer" and token["expires_in"] > 0
    claims = verify_id_token(token, jwks, client_id, nonce, discovery["issuer"])
    assert claims["acr"] == "idbb:acr:generated-code"
    assert abs(claims["auth_time"] - time.time()) < 60
    assert KOFI["uin"] not in json.dumps(dict(claims)) and claims["sub"] != KOFI["vid"]

    response = client.get(discovery["userinfo_endpoint"])
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/jwt")
    info = jwt.decode(response.text, jwks)
    info.validate()
    assert info["sub"] == claims["sub"]
    assert info["name"] == KOFI["name"] and info["birthdate"] == KOFI["birthdate"]
    assert KOFI["uin"] not in response.text


def test_only_consented_claims_are_returned(live, rp, discovery, jwks):
    client_id, key = rp
    requested = {"userinfo": {"name": {"essential": True}, "phone_number": {"essential": False}}}
    # The resident unticks email and phone (voluntary); name is essential.
    client, token, _ = login(live, client_id, key, discovery, scope="openid email", claims=requested, consent=[])
    info = jwt.decode(client.get(discovery["userinfo_endpoint"]).text, jwks)
    assert info["name"] == KOFI["name"]
    assert "email" not in info and "phone_number" not in info
    assert "birthdate" not in info  # never requested


def test_psut_is_stable_per_client_and_different_across_clients(live, http, rp, discovery, jwks):
    client_id, key = rp
    other_id, other_key = new_client_id(), client_key(1)
    register(http, other_id, other_key)
    subs = []
    for cid, k in ((client_id, key), (client_id, key), (other_id, other_key)):
        _, token, nonce = login(live, cid, k, discovery)
        subs.append(verify_id_token(token, jwks, cid, nonce, discovery["issuer"])["sub"])
    assert subs[0] == subs[1]
    assert subs[2] != subs[0]
    _, token, nonce = login(live, client_id, key, discovery, individual_id=AMINA_VID)
    assert verify_id_token(token, jwks, client_id, nonce, discovery["issuer"])["sub"] != subs[0]


def code_for(live, client_id, discovery, redirect_uri=REDIRECT, **params) -> str:  # noqa: ANN001
    """A fresh code for the client, made with the PKCE challenge of VERIFIER unless `params` give another."""
    client = OAuth2Client(client_id, redirect_uri=redirect_uri, scope="openid profile")
    url, _ = client.create_authorization_url(discovery["authorization_endpoint"], **{**PKCE, **params})
    return query_of(Browser(live.url).login_with_otp(url))["code"]


def assertion(client_id, key, audience, **claims) -> str:  # noqa: ANN001
    """A client assertion signed by authlib's private_key_jwt implementation."""
    signed = private_key_jwt_sign(key.as_dict(private=True), client_id, audience, claims=claims or None, alg="RS256")
    return signed.decode() if isinstance(signed, bytes) else signed


def token_request(http, client_id, code, client_assertion, redirect_uri=REDIRECT, code_verifier=VERIFIER):  # noqa: ANN001
    return http.post(
        "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": client_assertion,
            **({"code_verifier": code_verifier} if code_verifier else {}),
        },
    )


def test_replayed_code_is_refused_and_revokes_the_tokens(live, http, rp, discovery):
    client_id, key = rp
    code = code_for(live, client_id, discovery)
    first = token_request(http, client_id, code, assertion(client_id, key, discovery["token_endpoint"]))
    assert first.status_code == 200, first.text
    assert first.headers["cache-control"] == "no-store"
    again = token_request(http, client_id, code, assertion(client_id, key, discovery["token_endpoint"]))
    assert again.status_code == 400 and again.json()["error"] == "invalid_transaction"
    userinfo = http.get("/oidc/userinfo", headers={"Authorization": f"Bearer {first.json()['access_token']}"})
    assert userinfo.status_code == 401 and "invalid_token" in userinfo.headers["www-authenticate"]


def test_replayed_assertion_jti_is_refused(live, http, rp, discovery):
    client_id, key = rp
    signed = assertion(client_id, key, discovery["token_endpoint"], jti="fixed-" + uuid.uuid4().hex)
    assert token_request(http, client_id, code_for(live, client_id, discovery), signed).status_code == 200
    replay = token_request(http, client_id, code_for(live, client_id, discovery), signed)
    assert replay.status_code == 400
    assert replay.json() == {"error": "invalid_assertion", "error_description": replay.json()["error_description"]}


def test_assertion_stays_spent_when_its_code_is_refused(live, http, rp, discovery):
    client_id, key = rp
    signed = assertion(client_id, key, discovery["token_endpoint"], jti="spent-" + uuid.uuid4().hex)
    refused = token_request(http, client_id, "no-such-code", signed)
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_transaction"
    replay = token_request(http, client_id, code_for(live, client_id, discovery), signed)
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_assertion"


@pytest.mark.parametrize("case", ["wrong_aud", "expired", "wrong_key", "iss_mismatch"])
def test_bad_assertions_are_refused(live, http, rp, discovery, case):
    client_id, key = rp
    code = code_for(live, client_id, discovery)
    now = int(time.time())
    if case == "wrong_aud":
        signed = assertion(client_id, key, "https://elsewhere.example/token")
    elif case == "expired":
        signed = assertion(client_id, key, discovery["token_endpoint"], iat=now - 400, exp=now - 100)
    elif case == "wrong_key":
        signed = assertion(client_id, client_key(1), discovery["token_endpoint"])
    else:
        signed = assertion(client_id, key, discovery["token_endpoint"], iss="someone-else")
    response = token_request(http, client_id, code, signed)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_assertion"
    # the code was not spent by the refused request
    ok = token_request(http, client_id, code, assertion(client_id, key, discovery["token_endpoint"]))
    assert ok.status_code == 200


def test_unknown_client_wrong_redirect_and_bad_requests_at_the_token_endpoint(live, http, rp, discovery):
    client_id, key = rp
    code = code_for(live, client_id, discovery)
    unknown = token_request(http, "nobody", code, assertion("nobody", key, discovery["token_endpoint"]))
    assert unknown.status_code == 400 and unknown.json()["error"] == "invalid_assertion"
    wrong_redirect = token_request(
        http,
        client_id,
        code,
        assertion(client_id, key, discovery["token_endpoint"]),
        redirect_uri="https://rp.example/other",
    )
    assert wrong_redirect.status_code == 400 and wrong_redirect.json()["error"] == "invalid_redirect_uri"
    bad_type = http.post(
        "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "client_id": client_id,
            "client_assertion_type": "basic",
        },
    )
    assert bad_type.status_code == 400 and bad_type.json()["error"] == "invalid_assertion_type"
    garbage = http.post("/oauth/token", content=b"\x00\xff", headers={"content-type": "application/json"})
    assert garbage.status_code == 400 and "error" in garbage.json()
    assert (
        token_request(http, client_id, "not-a-code", assertion(client_id, key, discovery["token_endpoint"])).json()[
            "error"
        ]
        == "invalid_transaction"
    )


def test_pkce_verifier_must_match(live, http, rp, discovery):
    client_id, key = rp
    verifier = "v" * 50
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    code = code_for(live, client_id, discovery, code_challenge=challenge, code_challenge_method="S256")
    data = {"code_verifier": "w" * 50}
    bad = http.post(
        "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "client_id": client_id,
            "redirect_uri": REDIRECT,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion(client_id, key, discovery["token_endpoint"]),
            **data,
        },
    )
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_request"


def test_authorize_errors_about_client_or_redirect_stay_on_the_page(http, rp):
    client_id, _ = rp
    unknown = http.get(
        "/authorize",
        params={"client_id": "nobody", "redirect_uri": REDIRECT, "response_type": "code", "scope": "openid"},
    )
    assert unknown.status_code == 400 and "invalid_client_id" in unknown.text
    wrong = http.get(
        "/authorize",
        params={
            "client_id": client_id,
            "redirect_uri": "https://evil.example/cb",
            "response_type": "code",
            "scope": "openid",
        },
    )
    assert wrong.status_code == 400 and "invalid_redirect_uri" in wrong.text
    no_openid = http.get(
        "/authorize",
        params={
            "client_id": client_id,
            "redirect_uri": REDIRECT,
            "response_type": "code",
            "scope": "profile",
            "state": "s1",
        },
    )
    assert no_openid.status_code == 303
    assert query_of(no_openid.headers["location"]) == {
        "error": "invalid_scope",
        "error_description": "scope must contain openid",
        "state": "s1",
    }
    bad_claims = http.get(
        "/authorize",
        params={
            "client_id": client_id,
            "redirect_uri": REDIRECT,
            "response_type": "code",
            "scope": "openid",
            "claims": "{nope",
        },
    )
    assert query_of(bad_claims.headers["location"])["error"] == "invalid_request"


def test_wrong_otp_is_refused_then_the_right_one_works(live, rp, discovery):
    client_id, _ = rp
    client = OAuth2Client(client_id, redirect_uri=REDIRECT, scope="openid")
    url, _ = client.create_authorization_url(discovery["authorization_endpoint"], **PKCE)
    browser = Browser(live.url)
    page = browser.send_otp(browser.open(url).text, KOFI["vid"]).text
    wrong = browser.authenticate(page, KOFI["vid"], "OTP", "000000")
    assert wrong.status_code == 400 and "You have 2 attempts left." in wrong.text
    right = browser.authenticate(page, KOFI["vid"], "OTP", OTP)
    assert right.status_code == 200 and "Share your data" in right.text
    unknown = Browser(live.url)
    start = unknown.open(url).text
    assert "We do not know this UIN or VID." in unknown.send_otp(start, "1234567890").text


def test_attempt_limit_ends_the_login_with_access_denied(live, rp, discovery):
    client_id, _ = rp
    client = OAuth2Client(client_id, redirect_uri=REDIRECT, scope="openid")
    url, state = client.create_authorization_url(discovery["authorization_endpoint"], **PKCE)
    browser = Browser(live.url)
    page = browser.send_otp(browser.open(url).text, KOFI["vid"]).text
    responses = [browser.authenticate(page, KOFI["vid"], "OTP", "000000") for _ in range(3)]
    assert [r.status_code for r in responses] == [400, 400, 403]  # a page that says why (test_login_pages.py)
    back = query_of(unescape(re.search(r'id="back" href="([^"]+)"', responses[-1].text).group(1)))
    assert back["error"] == "access_denied" and back["state"] == state
    dead = browser.authenticate(page, KOFI["vid"], "OTP", OTP)
    assert dead.status_code == 400 and "invalid_transaction" in dead.text


def test_pin_login_and_acr_values_are_honoured(live, http, rp, discovery, jwks):
    client_id, key = rp
    client = oauth_client(client_id, key, discovery, scope="openid profile")
    url, state = client.create_authorization_url(
        discovery["authorization_endpoint"], nonce="n-1", acr_values="idbb:acr:static-code", **PKCE
    )
    browser = Browser(live.url)
    page = browser.open(url).text
    assert 'value="PIN"' in page and "Get OTP" not in page  # only the PIN factor is offered
    refused = browser.authenticate(page, KOFI["vid"], "OTP", OTP)
    assert refused.status_code == 400
    consent_page = browser.authenticate(page, KOFI["vid"], "PIN", PIN)
    assert consent_page.status_code == 200, consent_page.text
    location = browser.consent(consent_page.text).headers["location"]
    token = client.fetch_token(
        discovery["token_endpoint"], authorization_response=location, state=state, code_verifier=VERIFIER
    )
    assert verify_id_token(token, jwks, client_id, "n-1", discovery["issuer"])["acr"] == "idbb:acr:static-code"


def test_userinfo_is_encrypted_for_a_client_with_an_encryption_key(live, http, discovery, jwks):
    client_id, key = new_client_id(), client_key(0)
    enc_key = client_key(2)
    enc_public = {**enc_key.as_dict(private=False), "use": "enc", "alg": "RSA-OAEP-256"}
    register(http, client_id, key, encPublicKey=enc_public)
    client, token, _ = login(live, client_id, key, discovery, scope="openid profile")
    body = client.get(discovery["userinfo_endpoint"]).text
    assert body.count(".") == 4  # compact JWE
    decrypted = JsonWebEncryption().deserialize_compact(
        body, JsonWebKey.import_key({**enc_key.as_dict(private=True), "use": "enc", "alg": "RSA-OAEP-256"})
    )
    assert decrypted["header"]["cty"] == "JWT"
    info = jwt.decode(decrypted["payload"], jwks)
    assert info["name"] == KOFI["name"]


def test_key_rotation_keeps_old_tokens_verifiable(live, http, rp, discovery):
    client_id, key = rp
    client, token, _ = login(live, client_id, key, discovery)
    old_kid = json.loads(base64.urlsafe_b64decode(token["id_token"].split(".")[0] + "=="))["kid"]
    live.app.state.keyring.rotate()
    kids = [k["kid"] for k in http.get("/.well-known/jwks.json").json()["keys"]]
    assert old_kid in kids and len(kids) >= 2
    assert client.get(discovery["userinfo_endpoint"]).status_code == 200  # old access token still valid
    _, new_token, _ = login(live, client_id, key, discovery)
    new_kid = json.loads(base64.urlsafe_b64decode(new_token["id_token"].split(".")[0] + "=="))["kid"]
    assert new_kid != old_kid and new_kid in kids


@pytest.mark.parametrize(
    "pkce",
    [
        {},  # none at all
        {"code_challenge": PKCE["code_challenge"]},  # no method: RFC 7636 would take it as plain
        {"code_challenge": VERIFIER[:43], "code_challenge_method": "plain"},
        {"code_challenge": "short", "code_challenge_method": "S256"},
        {"code_challenge_method": "S256"},
    ],
)
def test_authorize_requires_pkce_with_s256(http, rp, pkce):
    client_id, _ = rp
    params = {"client_id": client_id, "redirect_uri": REDIRECT, "response_type": "code", "scope": "openid"}
    refused = http.get("/authorize", params={**params, **pkce, "state": "s-pkce"})
    assert refused.status_code == 303, refused.text[:300]
    assert query_of(refused.headers["location"]) == {
        "error": "invalid_request",
        "error_description": "PKCE is required: code_challenge with code_challenge_method=S256",
        "state": "s-pkce",
    }


@pytest.mark.parametrize("mistake", ["wrong_verifier", "no_verifier", "wrong_redirect_uri", "other_client"])
def test_a_failed_exchange_burns_the_code(live, http, rp, discovery, mistake):
    client_id, key = rp
    code = code_for(live, client_id, discovery)
    audience = discovery["token_endpoint"]
    if mistake == "other_client":
        other_id = new_client_id()
        register(http, other_id, client_key(1))
        failed = token_request(http, other_id, code, assertion(other_id, client_key(1), audience))
    else:
        failed = token_request(
            http,
            client_id,
            code,
            assertion(client_id, key, audience),
            redirect_uri="https://rp.example/other" if mistake == "wrong_redirect_uri" else REDIRECT,
            code_verifier={"wrong_verifier": "w" * 50, "no_verifier": None}.get(mistake, VERIFIER),
        )
    assert failed.status_code == 400
    retry = token_request(http, client_id, code, assertion(client_id, key, audience))
    assert retry.status_code == 400, "the code must not survive a failed exchange"
    assert retry.json()["error"] == "invalid_transaction"


def test_another_client_presenting_a_used_code_revokes_nothing(live, http, rp, discovery):
    client_id, key = rp
    code = code_for(live, client_id, discovery)
    audience = discovery["token_endpoint"]
    issued = token_request(http, client_id, code, assertion(client_id, key, audience))
    assert issued.status_code == 200
    other_id = new_client_id()
    register(http, other_id, client_key(1))
    assert token_request(http, other_id, code, assertion(other_id, client_key(1), audience)).status_code == 400
    bearer = {"Authorization": f"Bearer {issued.json()['access_token']}"}
    assert http.get("/oidc/userinfo", headers=bearer).status_code == 200


def test_a_relying_party_links_a_login_to_a_vid_by_its_pairwise_subject(live, http, rp, discovery):
    """Issue 17 (roles and links by stable identifiers): the `subject_matches` predicate says whether the person
    behind a VID is the one a client knows by a `sub`, so no relying party needs e-mail to link a login."""
    client_id, key = rp
    _, token, nonce = login(live, client_id, key, discovery)
    keys = JsonWebKey.import_key_set(http.get("/.well-known/jwks.json").json())  # keys may have rotated meanwhile
    sub = verify_id_token(token, keys, client_id, nonce, discovery["issuer"])["sub"]

    def matches(vid: str, **value: str) -> httpx.Response:
        body = {
            "requestId": uuid.uuid4().hex,
            "individualId": vid,
            "predicates": [{"type": "subject_matches", "value": {"clientId": client_id, "sub": sub, **value}}],
        }
        return http.post("/v1/verification", json=body, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})

    assert matches(KOFI["vid"]).json()["verified"] is True
    assert matches(KOFI["uin"]).json()["verified"] is True
    assert matches(AMINA_VID).json()["verified"] is False  # another resident
    assert matches(KOFI["vid"], clientId="another-client").json()["verified"] is False  # pairwise per client
    bad = matches(KOFI["vid"], sub="")
    assert bad.status_code == 400 and "sub" in bad.json()["error_description"]
