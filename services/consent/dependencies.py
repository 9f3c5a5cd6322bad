"""What the Consent routes take as parameters instead of reading `app.state`: the settings, the database,
the organisation's signer, the webhook secrets and worker, the verification log, who is calling (and what
the individual's proof allows), paging and the individual header.

All `async def`: they only read state, and a sync dependency would cost a thread-pool hop."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Header, Query, Request
from sqlalchemy.orm import Session

from services.common.app import DBSession, im_caller
from services.common.database import Database
from services.consent.access import PROOF_HEADER, Access, Principal
from services.consent.proofs.service import IndividualProofs
from services.consent.schemas import MAX_INT
from services.consent.settings import ConsentSettings
from services.consent.signatures.service import Signer
from services.consent.verification.log_writer import LogWriter
from services.consent.webhooks.delivery import DeliveryWorker
from services.consent.webhooks.service import SecretBox

if TYPE_CHECKING:  # psycopg is imported on PostgreSQL only (app.py)
    from services.consent.verification.pg_checks import PgChecks

INDIVIDUAL_HEADER = "X-ConsentBB-IndividualId"


async def get_settings(request: Request) -> ConsentSettings:
    return request.app.state.settings


async def get_database(request: Request) -> Database:
    return request.app.state.db


async def get_signer(request: Request) -> Signer:
    return request.app.state.signer


async def get_secret_box(request: Request) -> SecretBox:
    return request.app.state.webhook_box


async def get_verification_log(request: Request) -> LogWriter | None:
    """None until the app has started (and in tests that never start it): checks are then logged inline."""
    return request.app.state.verification_log


async def get_pg_checks(request: Request) -> PgChecks | None:
    """On PostgreSQL once the app has started: the single checks' connections and log on the event loop."""
    return request.app.state.pg_checks


async def get_individual_proofs(request: Request) -> IndividualProofs | None:
    return request.app.state.individual_proofs


Settings = Annotated[ConsentSettings, Depends(get_settings)]
DB = Annotated[Session, DBSession]  # a session committed when the route returns without error
ConsentDatabase = Annotated[Database, Depends(get_database)]  # for routes that open their own connection
OrgSigner = Annotated[Signer, Depends(get_signer)]
WebhookSecrets = Annotated[SecretBox, Depends(get_secret_box)]
VerificationLog = Annotated[LogWriter | None, Depends(get_verification_log)]
Proofs = Annotated[IndividualProofs | None, Depends(get_individual_proofs)]


async def wake_webhooks(request: Request) -> None:
    """A router dependency of routes that emit events: the worker looks for them at once."""
    worker: DeliveryWorker | None = request.app.state.webhook_worker
    if worker is not None:
        worker.wake()


# ---- who is calling -----------------------------------------------------------------------------------


def is_operator(request: Request) -> bool:
    """The operator's `Authorization: Bearer <token>`; also the IM guard's hook (`app.state.is_operator`)."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    expected: str = request.app.state.admin_token
    return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), expected.encode())


async def principal(request: Request, settings: Settings) -> Principal:
    """The caller of this request (the IM guard has checked the assertion or the operator's token)."""
    call = im_caller(request)
    operator = is_operator(request)
    if call is None and not settings.require_im_assertion:
        operator = True  # checks switched off (development only; the service says so at start)
    return Principal(client=call.client if call else None, operator=operator)


Who = Annotated[Principal, Depends(principal)]


async def access(
    who: Who,
    proofs: Proofs,
    proof: Annotated[
        str | None,
        Header(
            alias=PROOF_HEADER,
            description="The individual's proof: an ID token or signed userinfo JWT the Identity BB issued for "
            "them (needed to give, change or withdraw consent, to sign and to be forgotten)",
        ),
    ] = None,
) -> Access:
    return Access(who, proofs, (proof or "").strip() or None)


CallerAccess = Annotated[Access, Depends(access)]


# ---- paging and the individual header -----------------------------------------------------------------


@dataclass(frozen=True)
class Page:
    offset: int
    limit: int


async def page(
    settings: Settings,
    offset: Annotated[int, Query(ge=0, le=MAX_INT, description="Index of the first item")] = 0,
    limit: Annotated[int | None, Query(ge=1, le=MAX_INT, description="Number of items (default 100, capped)")] = None,
) -> Page:
    return Page(offset, min(limit or 100, settings.max_page_size))


Paging = Annotated[Page, Depends(page)]


async def individual_header(
    x_consentbb_individualid: Annotated[
        str | None, Header(alias=INDIVIDUAL_HEADER, description="The Individual acting (id or externalId)")
    ] = None,
) -> str | None:
    return (x_consentbb_individualid or "").strip() or None


IndividualHeader = Annotated[str | None, Depends(individual_header)]
