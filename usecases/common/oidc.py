"""Login through the Identity BB: OIDC code flow with PKCE and `private_key_jwt`; token, JWKS and
userinfo calls go through the IM; the ID token and the signed userinfo are always verified.

Each use case keeps its own tables (`LoginStateColumns`, `UserSessionColumns`) and decides roles from its
role assignments (`roles.py`), never from a claim such as e-mail."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar
from urllib.parse import urlencode

from fastapi import Request
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from sqlalchemy.orm import Session

from services.common.clock import utcnow
from services.common.errors import APIError
from services.common.im_client import IMClient
from services.common.keys import load_or_create_rsa

from .models import UserSessionColumns
from .settings import OIDC_CLAIMS, OIDC_KEY_NAME, UseCaseSettings

SCOPE = "openid profile phone"

_Session = TypeVar("_Session", bound=UserSessionColumns)  # a use case's session table


class LoginFailed(Exception):
    pass


@dataclass(frozen=True)
class Login:
    """A finished login: the verified userinfo claims, the signed userinfo JWT they came in (the resident's
    proof for Consent) and where the browser goes next."""

    claims: dict
    proof: str
    next_url: str


def client_key(settings: UseCaseSettings) -> RSAKey:
    return load_or_create_rsa(settings.keys_dir, OIDC_KEY_NAME)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_login(
    session: Session, settings: UseCaseSettings, login_model: type, next_url: str = "/", login_hint: str = ""
) -> tuple[str, str]:
    """Stores state, nonce and PKCE verifier; returns the Identity /authorize URL for the browser and the
    state (the caller binds it to the browser with a cookie)."""
    state, nonce, verifier = secrets.token_urlsafe(24), secrets.token_urlsafe(24), secrets.token_urlsafe(48)
    session.add(login_model(state=state, nonce=nonce, code_verifier=verifier, next_url=safe_next(next_url)))
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    query = urlencode(
        {
            "response_type": "code",
            "client_id": settings.oidc_client_id,
            "redirect_uri": settings.redirect_uri,
            "scope": SCOPE,
            "state": state,
            "nonce": nonce,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "acr_values": "idbb:acr:generated-code",
            "claims": json.dumps({"userinfo": {c: {"essential": True} for c in OIDC_CLAIMS}}),
        }
        | ({"login_hint": login_hint} if login_hint else {})
    )
    return f"{settings.identity_url.rstrip('/')}/authorize?{query}", state


def safe_next(url: str) -> str:
    return url if url.startswith("/") and not url.startswith("//") else "/"


def client_assertion(settings: UseCaseSettings) -> str:
    now = int(time.time())
    claims = {
        "iss": settings.oidc_client_id,
        "sub": settings.oidc_client_id,
        "aud": settings.issuer + "/oauth/token",
        "iat": now,
        "exp": now + 60,
        "jti": str(uuid.uuid4()),
    }
    key = client_key(settings)
    return jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key)


def _jwks(im: IMClient, settings: UseCaseSettings) -> KeySet:
    response = im.request_sync(settings.identity_oidc_service, "GET", "/.well-known/jwks.json")
    if response.status_code != 200:
        raise LoginFailed(f"JWKS unavailable ({response.status_code})")
    return KeySet.import_key_set(response.json())


def verified(token: str, keys: KeySet, settings: UseCaseSettings, nonce: str | None = None) -> dict:
    try:
        decoded = jwt.decode(token, keys, algorithms=["RS256"])
    except Exception as exc:  # any decoding or signature failure is a refusal
        raise LoginFailed("signature does not verify") from exc
    claims = decoded.claims
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    if claims.get("iss") != settings.issuer or settings.oidc_client_id not in audiences:
        raise LoginFailed("wrong issuer or audience")
    if "exp" in claims and claims["exp"] < time.time() - 10:
        raise LoginFailed("expired")
    if nonce is not None and claims.get("nonce") != nonce:
        raise LoginFailed("nonce mismatch")
    return claims


LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"


def logout_subject(token: str, keys: KeySet, settings: UseCaseSettings) -> str:
    """The `sub` of a valid OIDC Back-Channel Logout token from Identity (signature, iss, aud, exp, the logout
    event, no nonce); raises LoginFailed otherwise."""
    claims = verified(token, keys, settings)
    if not isinstance(claims.get("events"), dict) or LOGOUT_EVENT not in claims["events"] or "nonce" in claims:
        raise LoginFailed("not a logout token")
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise LoginFailed("logout token without sub")
    return claims["sub"]


def logout_keys(im: IMClient, settings: UseCaseSettings) -> KeySet:
    return _jwks(im, settings)


def finish_login(
    session: Session,
    settings: UseCaseSettings,
    im: IMClient,
    login_model: type,
    code: str,
    state: str,
) -> Login:
    """Redeems the code, verifies ID token and userinfo."""
    login = session.get(login_model, state)
    if login is None or utcnow() - login.created_at > timedelta(minutes=10):
        raise LoginFailed("unknown or expired login")
    session.delete(login)
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": settings.redirect_uri,
        "client_id": settings.oidc_client_id,
        "code_verifier": login.code_verifier,
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": client_assertion(settings),
    }
    response = im.request_sync(settings.identity_oidc_service, "POST", "/oauth/token", data=form)
    if response.status_code != 200:
        raise LoginFailed(f"token endpoint refused: {response.status_code} {response.text[:200]}")
    tokens = response.json()
    keys = _jwks(im, settings)
    id_claims = verified(tokens["id_token"], keys, settings, nonce=login.nonce)
    info = im.request_sync(
        settings.identity_oidc_service,
        "GET",
        "/oidc/userinfo",
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
    )
    if info.status_code != 200:
        raise LoginFailed(f"userinfo refused: {info.status_code}")
    signed_userinfo = info.text.strip()  # our client registers no encryption key: a JWS, never a JWE
    userinfo = verified(signed_userinfo, keys, settings)
    if userinfo.get("sub") != id_claims.get("sub"):
        raise LoginFailed("userinfo is about someone else")
    return Login(claims=userinfo, proof=signed_userinfo, next_url=login.next_url)


def new_session(
    settings: UseCaseSettings, session_model: type, login: Login, roles: list[str], **extra: Any
) -> tuple[str, object]:
    """A session row (not yet added) and the token for the cookie."""
    token = secrets.token_urlsafe(32)
    row = session_model(
        token_hash=token_hash(token),
        sub=login.claims["sub"],
        name=login.claims.get("name") or "resident",
        roles=roles,
        expires_at=utcnow() + timedelta(hours=settings.session_hours),
        proof=login.proof,
        **extra,
    )
    return token, row


def current_user(request: Request, session: Session, session_model: type[_Session], cookie: str) -> _Session | None:
    token = request.cookies.get(cookie)
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        token = header[7:].strip()
    if not token:
        return None
    row = session.get(session_model, token_hash(token))
    if row is None or row.expires_at < utcnow():
        return None
    return row


def require_role(user: _Session | None, role: str) -> _Session:
    if user is None:
        raise APIError(401, {"error": "unauthorized", "message": "log in first (/login)"})
    if role not in user.roles:
        raise APIError(403, {"error": "forbidden", "message": f"this needs the {role.replace('_', ' ')} role"})
    return user
