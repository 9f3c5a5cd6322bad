"""OIDC endpoints: discovery, JWKS, token, userinfo."""

from __future__ import annotations

import anyio
from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from services.identity.dependencies import Provider
from services.identity.oidc import tokens
from services.identity.oidc.claims import ACR_FACTORS, SCOPE_CLAIMS
from services.identity.oidc.schemas import JWT_RESPONSE, TokenResponse
from services.identity.security import bearer

router = APIRouter(tags=["OIDC"])
NO_STORE = tokens.NO_STORE


@router.get("/.well-known/openid-configuration", summary="Configuration Endpoint")
def discovery(provider: Provider) -> dict:
    issuer = provider.endpoints.issuer
    claims = sorted({c for names in SCOPE_CLAIMS.values() for c in names} | {"sub"})
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/authorize",
        "token_endpoint": f"{issuer}/oauth/token",
        "userinfo_endpoint": f"{issuer}/oidc/userinfo",
        "jwks_uri": f"{issuer}/.well-known/jwks.json",
        "registration_endpoint": f"{issuer}/client-mgmt/oidc-client",
        "end_session_endpoint": f"{issuer}/oidc/logout",
        "backchannel_logout_supported": True,
        "backchannel_logout_session_supported": True,
        "frontchannel_logout_supported": False,
        # The spec's enum lists `openid` only; OIDC Discovery lets a provider leave supported scopes unadvertised.
        # `profile`, `email`, `phone` and `address` work all the same (their claims are in claims_supported).
        "scopes_supported": ["openid"],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code"],
        "subject_types_supported": ["pairwise"],
        "acr_values_supported": list(ACR_FACTORS),
        "userinfo_signing_alg_values_supported": ["RS256"],
        "userinfo_encryption_alg_values_supported": ["RSA-OAEP-256"],
        "userinfo_encryption_enc_values_supported": ["A256GCM"],
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS256"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "code_challenge_methods_supported": ["S256"],
        "display_values_supported": ["page"],
        "claim_types_supported": ["normal"],
        "claims_supported": claims,
        "claims_parameter_supported": True,
        "claims_locales_supported": ["en"],
        "ui_locales_supported": ["en"],
    }


@router.get("/.well-known/jwks.json", summary="JSON Web Key Set Endpoint")
def jwks(provider: Provider) -> dict:
    return provider.keyring.jwks()


def _exchange(provider: tokens.OidcProvider, form: dict) -> dict:
    settings, secrets_, keyring, ends = provider.settings, provider.secrets, provider.keyring, provider.endpoints
    with provider.database.engine.connect() as connection:
        client = tokens.authenticate_client(connection, settings, ends, form)
        try:
            redeemed = tokens.redeem_code(connection, secrets_, client, form)
        finally:
            connection.commit()  # one write transaction per exchange; a refused code still spends the assertion
    # signed after the commit: the database transaction is not held open during the RSA work
    return tokens.issue_tokens(settings, secrets_, keyring, ends, client, redeemed)


@router.post("/oauth/token", summary="Token Endpoint", response_model=TokenResponse, response_model_exclude_unset=True)
async def token(request: Request, provider: Provider) -> Response:
    try:
        form = dict(await request.form())
    except Exception:  # noqa: BLE001 - an unparsable body is an invalid request
        form = {}
    body = await anyio.to_thread.run_sync(_exchange, provider, form, limiter=provider.threads)
    return JSONResponse(body, headers=NO_STORE)


def _userinfo(provider: tokens.OidcProvider, access_token: str | None) -> str:
    with provider.database.session() as session:
        return tokens.userinfo(session, provider.secrets, provider.keyring, provider.endpoints, access_token)


@router.get("/oidc/userinfo", summary="UserInfo Endpoint", responses=JWT_RESPONSE)
async def userinfo(request: Request, provider: Provider) -> Response:
    body = await run_in_threadpool(_userinfo, provider, bearer(request))
    return Response(body, media_type="application/jwt", headers=NO_STORE)
