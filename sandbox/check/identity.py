"""Identity: every operation of Identity-Provider.yaml in the spec's workflow, a full OIDC login by a client the
kit registers (client management with the admin token, PKCE, private_key_jwt): /authorize, the wallet's linked
authorization (link code, link transaction, PIN authentication, consent, link status, authorization code),
/oauth/token, /oidc/userinfo; a wallet binding; then every operation with invalid input.

Known data: the conformance fixtures (sandbox/conformance/identity.yaml): the resident `n3fy2qkg9r7h3` with
PIN 1234 logs in, `n3fy2qkg9r7h4` (PIN 1234) binds a wallet key through the partner `PARTNER-ID` /
`PARTNER-API-KEY`. The one step the spec leaves open is how the login page hands its transaction id and XSRF
cookie to the browser: the kit reads the id from the /authorize page (`transactionId`, `transaction_id` or
`const tx`) and the XSRF token from the `XSRF-TOKEN` cookie.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import time
import uuid
from datetime import UTC, datetime

import httpx
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from .kit import INVALID, Failed, Probe, probe_invalid_input, require_coverage, run_scenarios, status_in
from .openapi import load

PROVIDER = "identity/Identity-Provider.yaml"
LOGIN_INDIVIDUAL, LOGIN_PIN = "n3fy2qkg9r7h3", "1234"
WALLET_INDIVIDUAL = "n3fy2qkg9r7h4"
PARTNER = {"PARTNER-ID": "PARTNER-ID", "PARTNER-API-KEY": "PARTNER-API-KEY"}
REDIRECT = "https://conformance-kit.example/callback"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
SCENARIO = "scenario: OIDC login"
TRANSACTION_ID = re.compile(r"""(?:transactionId|transaction_id|const tx)["']?\s*(?:[:=]|value=)\s*["']([^"']+)["']""")


def envelope(request: dict) -> dict:
    now = datetime.now(UTC)
    return {"requestTime": now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z", "request": request}


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def refused(response: httpx.Response) -> str | None:
    """The spec answers errors in its envelope: a 4xx, or 200 with a non-empty `errors`."""
    if 400 <= response.status_code < 500:
        return None
    try:
        errors = response.json().get("errors")
    except (ValueError, AttributeError):
        errors = None
    if response.status_code == 200 and errors:
        return None
    return f"expected a refusal (4xx, or 200 with `errors`), got {response.status_code} without errors"


def no_errors(response: httpx.Response) -> str | None:
    if not 200 <= response.status_code < 300:
        return f"expected a success (2xx), got {response.status_code}"
    try:
        errors = response.json().get("errors") if "json" in response.headers.get("content-type", "") else None
    except (ValueError, AttributeError):
        errors = None
    return f"the answer carries errors: {errors}" if errors else None


class IdentityRun:
    def __init__(self, probe: Probe):
        self.probe = probe
        self.spec = load(PROVIDER)
        self.key = RSAKey.generate_key(2048, {"use": "sig", "alg": "RS256"}, private=True, auto_kid=True)
        self.client_id = f"kit-{uuid.uuid4().hex[:12]}"
        self.verifier = secrets.token_urlsafe(48)
        self.admin = {"Authorization": f"Bearer {probe.config.admin_token}"}
        self.state: dict[str, str] = {}

    def call(self, method: str, path: str, name: str, **request: object) -> httpx.Response:
        request.setdefault("expect", no_errors)
        return self.probe.call(self.spec, method, path, name=name, **request)

    def response(self, method: str, path: str, name: str, **request: object) -> dict:
        return self.call(method, path, name, **request).json().get("response") or {}

    def discovery(self) -> None:
        found = self.call("GET", "/.well-known/openid-configuration", "OpenID discovery").json()
        self.state["token_endpoint"] = found.get("token_endpoint") or self.probe.config.url + "/oauth/token"
        self.call("GET", "/.well-known/jwks.json", "the signing keys (JWKS)")

    def client_request(self, **changes: object) -> dict:
        request = {
            "clientName": "GovStack conformance kit",
            "logoUri": "https://conformance-kit.example/logo.png",
            "redirectUris": [REDIRECT],
            "userClaims": ["name", "birthdate"],
            "authContextRefs": ["idbb:acr:linked-wallet", "idbb:acr:generated-code", "idbb:acr:static-code"],
            "grantTypes": ["authorization_code"],
            "clientAuthMethods": ["private_key_jwt"],
        }
        return envelope({**request, **changes})

    def register_client(self) -> None:
        body = self.client_request(
            clientId=self.client_id, relyingPartyId="conformance-kit", publicKey=self.key.as_dict(private=False)
        )
        self.call("POST", "/client-mgmt/oidc-client", "register an OIDC client", json=body, headers=self.admin)
        update = self.client_request(status="active", clientName="GovStack conformance kit (updated)")
        self.call(
            "PUT", f"/client-mgmt/oidc-client/{self.client_id}", "update the client", json=update, headers=self.admin
        )

    def login(self) -> None:
        browser = httpx.Client(timeout=self.probe.config.timeout, verify=self.probe.config.verify)
        try:
            self._login(browser)
        finally:
            browser.close()

    def _login(self, browser: httpx.Client) -> None:
        query = {
            "client_id": self.client_id,
            "redirect_uri": REDIRECT,
            "response_type": "code",
            "scope": "openid",
            "state": "kit-state",
            "nonce": "kit-nonce",
            "code_challenge": s256(self.verifier),
            "code_challenge_method": "S256",
        }
        page = self.browser_call(browser, "GET", "/authorize", "open the login (PKCE S256)", params=query)
        match = TRANSACTION_ID.search(page.text)
        self.probe.step(SCENARIO, "the login page names its transaction", match is not None, "no transaction id in it")
        transaction = match.group(1)
        xsrf = {"X-XSRF-TOKEN": browser.cookies.get("XSRF-TOKEN", "")}
        link = self.browser_call(
            browser,
            "POST",
            "/linked-authorization/link-code",
            "the page asks for a link code",
            json=envelope({"transactionId": transaction}),
            headers=xsrf,
        ).json()["response"]["linkCode"]
        linked = self.response(
            "POST",
            "/linked-authorization/link-transaction",
            "the wallet scans it",
            json=envelope({"linkCode": link}),
        )["linkTransactionId"]
        challenge = [{"authFactorType": "PIN", "challenge": LOGIN_PIN, "format": "number"}]
        self.call(
            "POST",
            "/linked-authorization/authenticate",
            "the resident authenticates in the wallet (PIN)",
            json=envelope(
                {"linkedTransactionId": linked, "individualId": LOGIN_INDIVIDUAL, "challengeList": challenge}
            ),
        )
        self.call(
            "POST",
            "/linked-authorization/consent",
            "the resident consents",
            json=envelope({"linkedTransactionId": linked, "acceptedClaims": [], "permittedAuthorizeScopes": []}),
        )
        status = self.browser_call(
            browser,
            "POST",
            "/linked-authorization/link-status",
            "the page sees the link",
            json=envelope({"transactionId": transaction, "linkCode": link}),
            headers=xsrf,
        ).json()["response"]
        self.probe.step(SCENARIO, "link status LINKED", status.get("linkStatus") == "LINKED", f"it is {status}")
        code = self.browser_call(
            browser,
            "POST",
            "/linked-authorization/link-auth-code",
            "the page gets the authorization code",
            json=envelope({"transactionId": transaction, "linkedCode": link}),
            headers=xsrf,
        ).json()["response"]
        self.probe.step(
            SCENARIO,
            "the code comes back with the state and redirect URI sent",
            code.get("state") == "kit-state" and code.get("redirectUri") == REDIRECT and bool(code.get("code")),
            f"it came back as {code}",
        )
        self.state["code"] = code["code"]

    def browser_call(
        self, browser: httpx.Client, method: str, path: str, name: str, **request: object
    ) -> httpx.Response:
        """A call from the login page: with the browser's cookies."""
        saved, self.probe.http = self.probe.http, browser
        try:
            return self.call(method, path, name, **request)
        finally:
            self.probe.http = saved

    def assertion(self) -> str:
        now = int(time.time())
        claims = {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": self.state["token_endpoint"],
            "iat": now,
            "exp": now + 60,
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode({"alg": "RS256", "kid": self.key.kid}, claims, self.key)

    def tokens(self) -> None:
        form = {
            "grant_type": "authorization_code",
            "code": self.state["code"],
            "redirect_uri": REDIRECT,
            "client_id": self.client_id,
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": self.assertion(),
            "code_verifier": self.verifier,
        }
        issued = self.call("POST", "/oauth/token", "redeem the code (private_key_jwt, PKCE verifier)", data=form).json()
        token = issued.get("access_token", "")
        self.probe.step(
            SCENARIO, "an access token and an ID token", bool(token and issued.get("id_token")), str(issued)
        )
        claims = self.call(
            "GET", "/oidc/userinfo", "read the resident's claims", headers={"Authorization": f"Bearer {token}"}
        )
        self.probe.step(
            SCENARIO,
            "userinfo is a signed JWT about the resident",
            claims.text.count(".") == 2,
            f"it is {claims.text[:100]!r}",
        )
        form["client_assertion"] = self.assertion()
        self.call("POST", "/oauth/token", "redeem the same code again: refused", data=form, expect=status_in(400))

    def wallet_binding(self) -> None:
        wallet_key = ECKey.generate_key("P-256", private=True)
        request = {
            "individualId": WALLET_INDIVIDUAL,
            "authFactorType": "WLA",
            "format": "jwt",
            "challengeList": [{"authFactorType": "PIN", "challenge": LOGIN_PIN, "format": "number"}],
            "publicKey": wallet_key.as_dict(private=False),
        }
        bound = self.response(
            "POST", "/wallet-binding", "bind a wallet key (fixture partner)", json=envelope(request), headers=PARTNER
        )
        self.probe.step(
            "scenario: wallet binding",
            "a wallet user id and a certificate",
            bool(bound.get("walletUserId") and bound.get("certificate")),
            str(bound),
        )

    def without_credentials(self) -> None:
        try:
            self.probe.call(
                self.spec,
                "GET",
                "/oidc/userinfo",
                name="userinfo without an access token",
                kind=INVALID,
                expect=status_in(401),
            )
        except Failed:
            pass  # recorded; the next call is independent
        self.probe.call(
            self.spec,
            "POST",
            "/client-mgmt/oidc-client",
            name="register a client without the admin token",
            kind=INVALID,
            expect=status_in(401),
            json=self.client_request(
                clientId=f"kit-{uuid.uuid4().hex[:12]}", publicKey=self.key.as_dict(private=False)
            ),
        )


def run(probe: Probe) -> None:
    identity = IdentityRun(probe)
    scenarios = [identity.discovery, identity.register_client, identity.login, identity.tokens, identity.wallet_binding]
    run_scenarios(probe, [*scenarios, identity.without_credentials])
    headers = {**identity.admin, "X-XSRF-TOKEN": "kit"}
    skip = ["POST /client-mgmt/oidc-client"]  # its invalid input is the missing token above (401, documented)
    expect = {op.key: refused for op in identity.spec.operations()}
    probe_invalid_input(
        probe, identity.spec, known={"client_id": identity.client_id}, headers=headers, expect=expect, skip=skip
    )
    require_coverage(probe, identity.spec)
