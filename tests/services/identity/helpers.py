"""Test helpers: a browser that logs a resident in through the HTML pages, client registration."""

from __future__ import annotations

import base64
import hashlib
import re
import uuid
from html import unescape
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
from joserfc.jwk import RSAKey

ADMIN_TOKEN = "test-admin-token"
KOFI = {"vid": "9038952310", "uin": "9369006020", "name": "Kofi Mensah", "birthdate": "1982-04-17"}
AMINA_VID = "2405176278"
OTP = "111111"
PIN = "1234"
REDIRECT = "https://rp.example/callback"


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


# PKCE is required at /authorize: tests send this challenge and redeem codes with this verifier.
VERIFIER = "test-pkce-verifier-" + "v" * 40
PKCE = {"code_challenge": s256(VERIFIER), "code_challenge_method": "S256"}


def authorize_url(client_id: str, scope: str = "openid", **params: str) -> str:
    """A /authorize path with PKCE (override or drop it with `code_challenge=None` and the like)."""
    query = {"client_id": client_id, "redirect_uri": REDIRECT, "response_type": "code", "scope": scope, **PKCE}
    query.update(params)
    return "/authorize?" + urlencode({k: v for k, v in query.items() if v is not None})


_KEYS: list[RSAKey] = []


def client_key(index: int) -> RSAKey:
    """RSA client keys, generated once per test run (key generation is slow)."""
    while len(_KEYS) <= index:
        _KEYS.append(RSAKey.generate_key(2048, {"use": "sig", "alg": "RS256"}, private=True, auto_kid=True))
    return _KEYS[index]


def client_request(client_id: str, key: RSAKey, **overrides) -> dict:
    request = {
        "clientId": client_id,
        "clientName": f"Test {client_id}",
        "relyingPartyId": "test-rp",
        "logoUri": "https://rp.example/logo.png",
        "redirectUris": ["https://rp.example/callback", "https://rp.example/other"],
        "authContextRefs": ["idbb:acr:generated-code", "idbb:acr:static-code", "idbb:acr:linked-wallet"],
        "publicKey": key.as_dict(private=False),
        "userClaims": ["name", "given_name", "family_name", "birthdate", "email", "phone_number", "address", "gender"],
        "grantTypes": ["authorization_code"],
        "clientAuthMethods": ["private_key_jwt"],
    }
    request.update(overrides)
    return {"requestTime": "2026-11-22T10:00:00.000Z", "request": request}


def register(http, client_id: str, key: RSAKey, **overrides) -> dict:  # noqa: ANN001
    response = http.post(
        "/client-mgmt/oidc-client",
        json=client_request(client_id, key, **overrides),
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    )
    assert response.status_code == 200, response.text
    return response.json()


def new_client_id() -> str:
    return f"c-{uuid.uuid4().hex[:12]}"


def hidden(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert match, f"no hidden field {name} in page"
    return unescape(match.group(1))


class Browser:
    """Follows the login pages like a resident's browser would (cookies kept by httpx)."""

    def __init__(self, base_url: str | None = None, http: httpx.Client | None = None):
        self.http = http or httpx.Client(base_url=base_url, timeout=30)

    def open(self, authorize_url: str) -> httpx.Response:
        return self.http.get(authorize_url)

    def _post(self, path: str, page: str, **fields) -> httpx.Response:
        form = {"transaction_id": hidden(page, "transaction_id"), "xsrf": hidden(page, "xsrf"), **fields}
        return self.http.post(path, data=form)

    def send_otp(self, page: str, individual_id: str) -> httpx.Response:
        return self._post("/authorize/send-otp", page, individual_id=individual_id)

    def authenticate(self, page: str, individual_id: str, factor: str, challenge: str) -> httpx.Response:
        return self._post(
            "/authorize/authenticate", page, individual_id=individual_id, factor=factor, challenge=challenge
        )

    def consent(self, page: str, claims: list[str] | None = None, decision: str = "allow") -> httpx.Response:
        form = {"transaction_id": hidden(page, "transaction_id"), "xsrf": hidden(page, "xsrf"), "decision": decision}
        if claims is not None:
            form["claims"] = claims
        else:
            form["claims"] = re.findall(r'name="claims" value="([^"]+)"', page)
        return self.http.post("/authorize/consent", data=form)

    def login_with_otp(
        self, authorize_url: str, individual_id: str = KOFI["vid"], otp: str = OTP, claims: list[str] | None = None
    ) -> str:
        """The whole OTP login; returns the redirect Location carrying code and state."""
        page = self.open(authorize_url)
        assert page.status_code == 200, page.text
        otp_page = self.send_otp(page.text, individual_id)
        assert otp_page.status_code == 200, otp_page.text
        consent_page = self.authenticate(otp_page.text, individual_id, "OTP", otp)
        assert consent_page.status_code == 200, consent_page.text
        done = self.consent(consent_page.text, claims)
        assert done.status_code == 303, done.text
        return done.headers["location"]


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


# -- single authentication attempts, each in a login of its own (how a guesser works around the per-login limit)

NOW = "2026-11-22T10:00:00.000Z"


def page_attempt(base_url: str, client_id: str, individual_id: str, factor: str, challenge: str) -> httpx.Response:
    """One PIN or OTP attempt on the login pages, in a new login; the answer page (consent page if it worked)."""
    browser = Browser(base_url)
    page = browser.open(authorize_url(client_id)).text
    if factor == "OTP":
        page = browser.send_otp(page, individual_id).text
    return browser.authenticate(page, individual_id, factor, challenge)


def authenticated(response: httpx.Response) -> bool:
    return response.status_code == 200 and "Share your data" in response.text


def wallet_attempt(
    base_url: str, client_id: str, individual_id: str, factor: str, challenge: str, fmt: str = "number"
) -> dict:
    """One attempt through the wallet (linked authorization) in a new login; the envelope answered."""
    browser = Browser(base_url)
    page = browser.open(authorize_url(client_id)).text
    transaction_id = re.search(r"const tx = \"([^\"]+)\"", page).group(1)
    headers = {"X-XSRF-TOKEN": browser.http.cookies["XSRF-TOKEN"]}
    linked = browser.http.post(
        "/linked-authorization/link-code",
        json={"requestTime": NOW, "request": {"transactionId": transaction_id}},
        headers=headers,
    ).json()
    link_code = linked["response"]["linkCode"]
    with httpx.Client(base_url=base_url, timeout=30) as wallet:
        details = wallet.post(
            "/linked-authorization/link-transaction", json={"requestTime": NOW, "request": {"linkCode": link_code}}
        ).json()["response"]
        if factor == "OTP":
            wallet.post(
                "/linked-authorization/send-otp",
                json={
                    "requestTime": NOW,
                    "request": {"linkedTransactionId": details["linkTransactionId"], "individualId": individual_id},
                },
            )
        answer = wallet.post(
            "/linked-authorization/authenticate",
            json={
                "requestTime": NOW,
                "request": {
                    "linkedTransactionId": details["linkTransactionId"],
                    "individualId": individual_id,
                    "challengeList": [{"authFactorType": factor, "challenge": challenge, "format": fmt}],
                },
            },
        )
    return {"status": answer.status_code, **answer.json()}
