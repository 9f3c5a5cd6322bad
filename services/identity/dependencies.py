"""What Identity's routes take as parameters (settings, secrets, keys, the database, who is calling), and the
same look-ups for helpers that are handed the request (the pages, the session cookie)."""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from services.common.app import DBSession, im_caller
from services.common.database import Database
from services.common.errors import APIError
from services.identity.errors import IdentityError
from services.identity.oidc import tokens
from services.identity.ratelimit import Limits
from services.identity.security import Secrets, bearer
from services.identity.settings import IdentitySettings
from services.identity.signing.keyring import Keyring


def settings_of(request: Request) -> IdentitySettings:
    return request.app.state.settings


def secrets_of(request: Request) -> Secrets:
    return request.app.state.secrets


def keyring_of(request: Request) -> Keyring:
    return request.app.state.keyring


def database_of(request: Request) -> Database:
    return request.app.state.db


def limits_of(request: Request) -> Limits:
    return request.app.state.limits


# async: they only read state, and a sync dependency costs a hop to the thread pool
async def _settings(request: Request) -> IdentitySettings:
    return settings_of(request)


async def _secrets(request: Request) -> Secrets:
    return secrets_of(request)


async def _keyring(request: Request) -> Keyring:
    return keyring_of(request)


async def _database(request: Request) -> Database:
    return database_of(request)


async def _provider(request: Request) -> tokens.OidcProvider:
    return request.app.state.provider


async def _limits(request: Request) -> Limits:
    return limits_of(request)


Settings = Annotated[IdentitySettings, Depends(_settings)]
ServerSecrets = Annotated[Secrets, Depends(_secrets)]
SigningKeys = Annotated[Keyring, Depends(_keyring)]
Db = Annotated[Database, Depends(_database)]
DbSession = Annotated[Session, DBSession]
Provider = Annotated[tokens.OidcProvider, Depends(_provider)]
RateLimits = Annotated[Limits, Depends(_limits)]


def _session_keeping_refusals(request: Request) -> Iterator[Session]:
    """A session that commits what a route recorded before it refused (a failed attempt counts, a refused
    question stays audited): these refusals are answers, most of them HTTP 200 in the wallet envelope."""
    with database_of(request).session() as session:
        try:
            yield session
        except IdentityError:
            session.commit()
            raise


AttemptSession = Annotated[Session, Depends(_session_keeping_refusals, scope="function")]


def is_admin(request: Request) -> bool:
    token = bearer(request)
    return token is not None and hmac.compare_digest(token.encode(), secrets_of(request).admin_token.encode())


async def require_admin(request: Request) -> None:
    if not is_admin(request):
        raise IdentityError("unauthorized", "administrator token required", 401, {"WWW-Authenticate": "Bearer"})


async def _admin(request: Request) -> bool:
    return is_admin(request)


async def relying_party(request: Request) -> str:
    """Who is calling a relying-party API: the IM-vouched client application, or "admin"; anyone else is 401."""
    call = im_caller(request)
    if call is not None:
        return getattr(call, "client", None) or str(call)
    if is_admin(request):
        return "admin"
    raise APIError(
        401,
        {
            "errors": [
                {
                    "errorCode": "unauthorized",
                    "message": "call through the Information Mediator or with the admin token",
                }
            ]
        },
        {"WWW-Authenticate": "Bearer"},
    )


AdminOnly = Depends(require_admin)  # `dependencies=[AdminOnly]` on a route or router
IsAdmin = Annotated[bool, Depends(_admin)]
Caller = Annotated[str, Depends(relying_party)]
