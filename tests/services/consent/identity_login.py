"""A resident's login at a real Identity BB, as a relying party does it, to get what Consent takes as their
proof: the ID token, or the signed userinfo JWT."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

import httpx
from joserfc import jwt
from joserfc.jwk import RSAKey

from tests.services.identity.helpers import VERIFIER, Browser, authorize_url, client_key, query_of, register


@dataclass(frozen=True)
class RelyingParty:
    client_id: str
    key: RSAKey


@dataclass(frozen=True)
class Login:
    id_token: str
    access_token: str
    userinfo: str  # the signed userinfo JWT


def new_relying_party(identity_url: str, index: int = 0) -> RelyingParty:
    rp = RelyingParty(f"c-{uuid.uuid4().hex[:12]}", client_key(index))
    with httpx.Client(base_url=identity_url, timeout=30) as http:
        register(http, rp.client_id, rp.key)
    return rp


def _client_assertion(rp: RelyingParty, token_endpoint: str) -> str:
    now = int(time.time())
    claims = {"iss": rp.client_id, "sub": rp.client_id, "aud": token_endpoint, "iat": now, "exp": now + 60}
    claims["jti"] = uuid.uuid4().hex
    return jwt.encode({"alg": "RS256", "kid": rp.key.kid}, claims, rp.key)


def login(identity_url: str, rp: RelyingParty, vid: str) -> Login:
    """The whole authorization-code flow with OTP, then userinfo."""
    location = Browser(identity_url).login_with_otp(authorize_url(rp.client_id, "openid profile"), vid)
    token_endpoint = f"{identity_url}/oauth/token"
    with httpx.Client(base_url=identity_url, timeout=30) as http:
        tokens = http.post(
            "/oauth/token",
            data={
                "grant_type": "authorization_code",
                "code": query_of(location)["code"],
                "client_id": rp.client_id,
                "redirect_uri": "https://rp.example/callback",
                "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                "client_assertion": _client_assertion(rp, token_endpoint),
                "code_verifier": VERIFIER,
            },
        )
        assert tokens.status_code == 200, tokens.text
        access_token = tokens.json()["access_token"]
        info = http.get("/oidc/userinfo", headers={"Authorization": f"Bearer {access_token}"})
        assert info.status_code == 200, info.text
    return Login(tokens.json()["id_token"], access_token, info.text)
