"""Single sign-on: the provider's session in the browser, and ending it (with back-channel logout).

After a login on the provider's pages the browser gets `IDN-SESSION` (HttpOnly, SameSite=Lax, Secure over
https), a random token whose keyed hash names an `idn_session` row. While the row lives (idle and absolute
expiry, not ended) `/authorize` skips the login page; consent is still asked per client. Ending a session
tells every relying party that got a code in it and registered a `backchannel_logout_uri` (OIDC Back-Channel
Logout 1.0: a `logout+jwt` signed with the provider's keys, POSTed as `logout_token`).
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta

import httpx
from fastapi import Request, Response
from joserfc import jwt
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.common.clock import utcnow
from services.identity.clients.models import OidcClient
from services.identity.credentials import events
from services.identity.dependencies import secrets_of, settings_of
from services.identity.identities import factors
from services.identity.identities.models import Identity
from services.identity.identities.service import find_by_individual_id
from services.identity.notifications.service import notify
from services.identity.oidc.claims import ACR_FACTORS
from services.identity.oidc.models import AuthTransaction, IdentitySession
from services.identity.security import Secrets
from services.identity.settings import IdentitySettings
from services.identity.signing.keyring import Keyring

log = logging.getLogger(__name__)
COOKIE = "IDN-SESSION"
LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"


def current(request: Request, session: Session) -> IdentitySession | None:
    """The live session of this browser, touched (idle expiry restarts), or None."""
    token = request.cookies.get(COOKIE)
    if not token or len(token) > 128:
        return None
    row = session.get(IdentitySession, secrets_of(request).keyed_hash("session", token))
    settings = settings_of(request)
    now = utcnow()
    if row is None or row.ended_at is not None or row.expires_at <= now:
        return None
    if row.last_seen_at + timedelta(seconds=settings.session_idle_seconds) <= now:
        return None
    identity = session.get(Identity, row.identity_id)
    if identity is None or identity.status != "active":
        return None
    row.last_seen_at = now
    return row


def open_session(
    session: Session, settings: IdentitySettings, secrets_: Secrets, transaction: AuthTransaction
) -> tuple[IdentitySession, str]:
    """A new session for the resident the transaction just authenticated; returns it and the cookie's token."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    row = IdentitySession(
        id=secrets_.keyed_hash("session", token),
        identity_id=transaction.identity_id,
        acr=transaction.acr,
        auth_time=transaction.auth_time or now,
        last_seen_at=now,
        expires_at=now + timedelta(seconds=settings.session_max_seconds),
        clients=[],
        consents={},
    )
    session.add(row)
    transaction.session_id = row.id
    return row, token


def _https(request: Request) -> bool:
    """Served over https: this request, or the public URL (TLS ended by a proxy in front)."""
    return request.url.scheme == "https" or settings_of(request).base_url.startswith("https:")


def set_cookie(request: Request, response: Response, token: str) -> None:
    response.set_cookie(
        COOKIE,
        token,
        max_age=settings_of(request).session_max_seconds,
        httponly=True,
        samesite="lax",
        secure=_https(request),
        path="/",
    )


def clear_cookie(request: Request, response: Response) -> None:
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="lax", secure=_https(request))


def reusable(session: Session, row: IdentitySession, acrs: list[str], max_age: int | None, hint: str) -> bool:
    """May this session answer a login that allows `acrs`, wants a login no older than `max_age` seconds and
    hints at `hint` (a UIN or VID)? Not if its factor is not allowed (or blocked since), it is too old, or the
    hint names someone else."""
    if row.acr not in acrs:
        return False
    identity = session.get(Identity, row.identity_id)
    if identity is None or factors.is_blocked(identity, ACR_FACTORS.get(row.acr, "")):
        return False
    if max_age is not None and (utcnow() - row.auth_time).total_seconds() > max_age:
        return False
    if hint:
        hinted = find_by_individual_id(session, hint)
        if hinted is None or hinted.id != row.identity_id:
            return False
    return True


def resume(row: IdentitySession, transaction: AuthTransaction) -> None:
    """The transaction is authenticated by the session: same resident, acr and auth_time."""
    transaction.identity_id = row.identity_id
    transaction.acr = row.acr
    transaction.auth_time = row.auth_time
    transaction.session_id = row.id
    transaction.status = "authenticated"


def remember_login(session: Session, transaction: AuthTransaction, client_name: str) -> None:
    """A code was issued: the session remembers the client (to tell it of a logout) and what was accepted; the
    resident hears of a first login to a client, and the login is in their service history."""
    identity = session.get(Identity, transaction.identity_id)
    if transaction.session_id:
        row = session.get(IdentitySession, transaction.session_id)
        if row is not None:
            row.clients = list(dict.fromkeys([*row.clients, transaction.client_id]))
            row.consents = {**row.consents, transaction.client_id: list(transaction.accepted_claims)}
    earlier = session.scalar(
        select(AuthTransaction.id).where(
            AuthTransaction.identity_id == transaction.identity_id,
            AuthTransaction.client_id == transaction.client_id,
            AuthTransaction.code_hash.is_not(None),
            AuthTransaction.id != transaction.id,
        )
    )
    if identity is None:
        return
    if earlier is None:
        notify(
            session,
            identity,
            "new_client_login",
            "A new service used your national ID login",
            f"You logged in to {client_name} for the first time. If this was not you, block your login factors on "
            "your identity account page and contact the identity authority.",
        )
    events.record(
        session,
        identity.id,
        "LOGIN",
        f"Logged in to {client_name}",
        actor="resident",
        info={"partnerId": transaction.client_id, "partnerName": client_name, "authenticationMode": transaction.acr},
    )


@dataclass
class LogoutNotice:
    client_id: str
    uri: str
    token: str


def end(
    session: Session, settings: IdentitySettings, secrets_: Secrets, keyring: Keyring, row: IdentitySession
) -> list[LogoutNotice]:
    """End the session; returns the back-channel logout tokens to deliver (after the commit)."""
    if row.ended_at is not None:
        return []
    row.ended_at = utcnow()
    identity = session.get(Identity, row.identity_id)
    notices = []
    for client_id in row.clients:
        client = session.get(OidcClient, client_id)
        if client is None or not client.backchannel_logout_uri or identity is None:
            continue
        token = logout_token(settings, keyring, client_id, secrets_.psut(identity.uin, client_id), row.id)
        notices.append(LogoutNotice(client_id, client.backchannel_logout_uri, token))
    return notices


def logout_token(settings: IdentitySettings, keyring: Keyring, client_id: str, sub: str, sid: str) -> str:
    """OIDC Back-Channel Logout 1.0, section 2.4: signed like the ID token, `typ: logout+jwt`."""
    now = int(utcnow().timestamp())
    claims = {
        "iss": settings.base_url.rstrip("/"),
        "aud": client_id,
        "iat": now,
        "exp": now + 120,
        "jti": secrets.token_urlsafe(16),
        "sub": sub,
        "sid": sid,
        "events": {LOGOUT_EVENT: {}},
    }
    key = keyring.current() or keyring.ensure_current()
    return jwt.encode({"alg": "RS256", "typ": "logout+jwt", "kid": key.kid}, claims, key.key)


def deliver(settings: IdentitySettings, notices: list[LogoutNotice]) -> dict[str, int | None]:
    """POST each logout token to its relying party; an unreachable one is logged, not retried."""
    outcome: dict[str, int | None] = {}
    with httpx.Client(timeout=settings.backchannel_logout_timeout_seconds) as http:
        for notice in notices:
            try:
                answer = http.post(notice.uri, data={"logout_token": notice.token})
                outcome[notice.client_id] = answer.status_code
            except httpx.HTTPError as exc:
                outcome[notice.client_id] = None
                log.warning("back-channel logout to client %s failed: %s", notice.client_id, type(exc).__name__)
    return outcome
