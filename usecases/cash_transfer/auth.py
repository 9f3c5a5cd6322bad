"""Login through the Identity BB: OIDC code flow with PKCE and `private_key_jwt`; token, JWKS and
userinfo calls go through the IM; the ID token and the signed userinfo are always verified."""
from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
import uuid
from datetime import timedelta
from urllib.parse import urlencode

from fastapi import Request
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.common.errors import APIError
from services.common.keys import load_or_create_rsa

from .models import Candidate, LoginState, UserSession, utcnow
from .settings import IDENTITY_OIDC, CashTransferSettings

SESSION_COOKIE = "usct_session"
SCOPE = "openid profile email phone"
CLAIMS = ["name", "email", "phone_number", "birthdate"]
KEY_NAME = "oidc-client"


class LoginFailed(Exception):
    pass


def client_key(settings: CashTransferSettings) -> RSAKey:
    return load_or_create_rsa(settings.keys_dir, KEY_NAME)


def redirect_uri(settings: CashTransferSettings) -> str:
    return settings.base_url.rstrip("/") + "/auth/callback"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_login(session: Session, settings: CashTransferSettings, next_url: str = "/") -> str:
    """Stores state, nonce and PKCE verifier; returns the Identity /authorize URL for the browser."""
    state, nonce, verifier = secrets.token_urlsafe(24), secrets.token_urlsafe(24), secrets.token_urlsafe(48)
    session.add(LoginState(state=state, nonce=nonce, code_verifier=verifier, next_url=_safe_next(next_url)))
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    query = urlencode({
        "response_type": "code", "client_id": settings.oidc_client_id, "redirect_uri": redirect_uri(settings),
        "scope": SCOPE, "state": state, "nonce": nonce, "code_challenge": challenge,
        "code_challenge_method": "S256", "acr_values": "idbb:acr:generated-code",
        "claims": json.dumps({"userinfo": {c: {"essential": True} for c in CLAIMS}}),
    })
    return f"{settings.identity_url.rstrip('/')}/authorize?{query}"


def _safe_next(url: str) -> str:
    return url if url.startswith("/") and not url.startswith("//") else "/"


def client_assertion(settings: CashTransferSettings) -> str:
    now = int(time.time())
    claims = {"iss": settings.oidc_client_id, "sub": settings.oidc_client_id, "aud": settings.issuer + "/oauth/token",
              "iat": now, "exp": now + 60, "jti": str(uuid.uuid4())}
    key = client_key(settings)
    return jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key)


async def _jwks(im) -> KeySet:  # noqa: ANN001
    response = await im.request(IDENTITY_OIDC, "GET", "/.well-known/jwks.json")
    if response.status_code != 200:
        raise LoginFailed(f"JWKS unavailable ({response.status_code})")
    return KeySet.import_key_set(response.json())


def _verified(token: str, keys: KeySet, settings: CashTransferSettings, nonce: str | None = None) -> dict:
    try:
        decoded = jwt.decode(token, keys, algorithms=["RS256"])
    except Exception as exc:  # noqa: BLE001 - any decoding or signature failure is a refusal
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


async def finish_login(session: Session, settings: CashTransferSettings, im, code: str, state: str) -> tuple[str, str]:  # noqa: ANN001
    """Redeems the code, verifies ID token and userinfo, opens a session; returns (session token, next url)."""
    login = session.get(LoginState, state)
    if login is None or utcnow() - _aware(login.created_at) > timedelta(minutes=10):
        raise LoginFailed("unknown or expired login")
    session.delete(login)
    form = {
        "grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri(settings),
        "client_id": settings.oidc_client_id, "code_verifier": login.code_verifier,
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": client_assertion(settings),
    }
    response = await im.request(IDENTITY_OIDC, "POST", "/oauth/token", data=form)
    if response.status_code != 200:
        raise LoginFailed(f"token endpoint refused: {response.status_code} {response.text[:200]}")
    tokens = response.json()
    keys = await _jwks(im)
    id_claims = _verified(tokens["id_token"], keys, settings, nonce=login.nonce)
    info = await im.request(IDENTITY_OIDC, "GET", "/oidc/userinfo",
                            headers={"Authorization": f"Bearer {tokens['access_token']}"})
    if info.status_code != 200:
        raise LoginFailed(f"userinfo refused: {info.status_code}")
    userinfo = _verified(info.text.strip(), keys, settings)
    if userinfo.get("sub") != id_claims.get("sub"):
        raise LoginFailed("userinfo is about someone else")
    token = open_session(session, settings, userinfo)
    return token, login.next_url


def _aware(value):  # noqa: ANN001, ANN202 - SQLite gives naive datetimes back
    from datetime import UTC
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def roles_for(settings: CashTransferSettings, claims: dict) -> list[str]:
    roles = []
    for rule, role in settings.role_claims.items():
        claim, _, value = rule.partition("=")
        if str(claims.get(claim, "")).strip().lower() == value.strip().lower():
            roles.append(role)
    return roles


def open_session(session: Session, settings: CashTransferSettings, claims: dict) -> str:
    roles = roles_for(settings, claims)
    email = str(claims.get("email", "")).lower()
    candidate = session.scalars(select(Candidate).where(Candidate.email == email)).first() if email else None
    if candidate is not None:
        roles.append("beneficiary")
    token = secrets.token_urlsafe(32)
    session.add(UserSession(token_hash=_hash(token), sub=claims["sub"], name=claims.get("name") or "resident",
                            roles=roles, candidate_id=candidate.id if candidate else None,
                            expires_at=utcnow() + timedelta(hours=settings.session_hours)))
    return token


def current_user(request: Request, session: Session) -> UserSession | None:
    token = request.cookies.get(SESSION_COOKIE)
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        token = header[7:].strip()
    if not token:
        return None
    row = session.get(UserSession, _hash(token))
    if row is None or _aware(row.expires_at) < utcnow():
        return None
    return row


def require(request: Request, session: Session, role: str) -> UserSession:
    user = current_user(request, session)
    if user is None:
        raise APIError(401, {"error": "unauthorized", "message": "log in first (/login)"})
    if role not in user.roles:
        raise APIError(403, {"error": "forbidden", "message": f"this needs the {role} role"})
    return user


def logout(request: Request, session: Session) -> None:
    user = current_user(request, session)
    if user is not None:
        session.delete(user)
