"""Request helpers shared by the Consent routers: paging, the individual header, who is calling."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Header, Query, Request
from pydantic import BaseModel, ConfigDict

from services.consent.access import principal_of

if TYPE_CHECKING:  # webhooks.schemas imports this module: importing webhooks.service here would be circular
    from services.consent.signatures.service import Signer
    from services.consent.webhooks.service import SecretBox

INDIVIDUAL_HEADER = "X-ConsentBB-IndividualId"
# Largest integer the API takes: columns are INTEGER (int32 on PostgreSQL); bigger values are a 400, not a 500.
MAX_INT = 2**31 - 1


class SpecModel(BaseModel):
    """Spec objects arrive camelCase; unknown keys (and read-only ones like `id`) are ignored."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)


@dataclass(frozen=True)
class Page:
    offset: int
    limit: int


# Dependencies are `async def` on purpose: FastAPI runs sync dependencies in the thread pool, one hop each.
async def page(
    request: Request,
    offset: Annotated[int, Query(ge=0, le=MAX_INT, description="Index of the first item")] = 0,
    limit: Annotated[int | None, Query(ge=1, le=MAX_INT, description="Number of items (default 100, capped)")] = None,
) -> Page:
    cap = request.app.state.settings.max_page_size
    return Page(offset, min(limit or 100, cap))


async def individual_header(
    x_consentbb_individualid: Annotated[
        str | None, Header(alias=INDIVIDUAL_HEADER, description="The Individual acting (id or externalId)")
    ] = None,
) -> str | None:
    return (x_consentbb_individualid or "").strip() or None


async def caller(request: Request) -> str:
    """Who made the call, for `Revision.authorizedByOther` and the verification log: the client application
    the IM vouches for (checked by the IM guard), else `operator` (the operator's token, or checks off)."""
    return principal_of(request).label


def id_of(value: Any) -> str | None:
    """Foreign keys may be sent as an id string or as the object (`{"id": ...}`)."""
    if isinstance(value, dict):
        value = value.get("id")
    if value is None:
        return None
    return str(value).strip() or None


async def signer(request: Request) -> Signer:
    return request.app.state.signer


async def secret_box(request: Request) -> SecretBox:
    return request.app.state.webhook_box


async def wake_webhooks(request: Request) -> None:
    worker = getattr(request.app.state, "webhook_worker", None)
    if worker is not None:
        worker.wake()
