"""RP-initiated logout (OIDC RP-Initiated Logout 1.0): `GET|POST /oidc/logout`, the discovery's
`end_session_endpoint`. It ends the provider session of this browser and tells the relying parties (oidc/sso.py).

With an `id_token_hint` this provider issued for the session's resident the session ends at once; without one
the resident confirms on a page (a POST with a token bound to the session), so a link elsewhere cannot log
anyone out. `post_logout_redirect_uri` is followed only when it is on the origin of one of the client's
registered redirect URIs (the client is the hint's `aud`, or `client_id`).
"""

from __future__ import annotations

import hmac
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy.orm import Session

from services.identity.clients.service import get_client
from services.identity.dependencies import DbSession, keyring_of, secrets_of
from services.identity.identities.models import Identity
from services.identity.oidc import sso
from services.identity.oidc.models import IdentitySession
from services.identity.oidc.pages import client_redirect, end_session, form_data, page

router = APIRouter(tags=["OIDC"])


def _origin(uri: str) -> tuple[str, str]:
    parts = urlsplit(uri)
    return parts.scheme, parts.netloc


def _hint_claims(request: Request, hint: str | None) -> dict | None:
    """The claims of an ID token this provider signed (expired or not), else None."""
    if not hint or len(hint) > 8192:
        return None
    try:
        keys = KeySet.import_key_set(keyring_of(request).jwks())  # published keys, with their kids
        return jwt.decode(hint, keys, algorithms=["RS256"]).claims
    except Exception:  # noqa: BLE001 - not one of ours
        return None


def _redirect_target(session: Session, client_id: str | None, uri: str | None) -> str | None:
    client = get_client(session, client_id)
    if client is None or not uri:
        return None
    return uri if _origin(uri) in {_origin(r) for r in client.redirect_uris} else None


def _hint_names_session(request: Request, session: Session, claims: dict, row: IdentitySession) -> bool:
    identity = session.get(Identity, row.identity_id)
    aud = claims.get("aud")
    if identity is None or not isinstance(aud, str):
        return False
    return hmac.compare_digest(str(claims.get("sub")), secrets_of(request).psut(identity.uin, aud))


def _confirm_token(request: Request, row: IdentitySession) -> str:
    return secrets_of(request).keyed_hash("logout", row.id)


def _done(request: Request, session: Session, client_id: str | None, uri: str | None, state: str | None) -> Response:
    target = _redirect_target(session, client_id, uri)
    response: Response
    response = client_redirect(target, {"state": state}) if target else page(request, "logout.html", done=True)
    sso.clear_cookie(request, response)
    return response


@router.get("/oidc/logout", summary="End session endpoint (RP-initiated logout)", response_class=HTMLResponse)
def logout(request: Request, session: DbSession) -> Response:
    q = request.query_params
    claims = _hint_claims(request, q.get("id_token_hint"))
    client_id = claims.get("aud") if claims else q.get("client_id")
    uri, state = q.get("post_logout_redirect_uri"), q.get("state")
    row = sso.current(request, session)
    if row is None:
        return _done(request, session, client_id, uri, state)
    if claims and _hint_names_session(request, session, claims, row):
        end_session(request, session, row)
        return _done(request, session, client_id, uri, state)
    fields = {"client_id": client_id or "", "post_logout_redirect_uri": uri or "", "state": state or ""}
    return page(request, "logout.html", done=False, token=_confirm_token(request, row), fields=fields)


@router.post("/oidc/logout", include_in_schema=False)
def confirm_logout(request: Request, session: DbSession, form: dict = Depends(form_data)) -> Response:
    row = sso.current(request, session)
    if row is not None:
        if not hmac.compare_digest(str(form.get("token") or ""), _confirm_token(request, row)):
            return page(request, "error.html", 403, error="invalid_request", description="Security check failed.")
        end_session(request, session, row)
    client_id = form.get("client_id") or None
    return _done(request, session, client_id, form.get("post_logout_redirect_uri"), form.get("state") or None)
