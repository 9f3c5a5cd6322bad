"""What the IM's routes take as parameters instead of reading `app.state`: the runtime, the settings, the
database, the administrator check, and the pub/sub call context (the room and its authenticated client).

All `async def`: they only read state, and a sync dependency would cost a thread-pool hop."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any, Concatenate, ParamSpec, TypeVar

from fastapi import Depends, Path, Request
from sqlalchemy.orm import Session
from starlette.datastructures import Headers

from services.common.database import Database
from services.common.im_client import SECRET_HEADER

from .audit.refusals import RefusedAdminCalls
from .audit.service import is_admin
from .proxy.errors import TOO_MANY_REQUESTS, UNAUTHORIZED, UNKNOWN_SERVICE, IMError
from .proxy.forward import authenticate_client
from .pubsub.service import FORBIDDEN, PubSubError
from .runtime import IMRuntime
from .settings import IMSettings
from .trace.access import Tokens, require_reader

P = ParamSpec("P")
T = TypeVar("T")


async def get_runtime(request: Request) -> IMRuntime:
    return request.app.state.im_runtime


async def get_settings(request: Request) -> IMSettings:
    return request.app.state.settings


async def get_database(request: Request) -> Database:
    return request.app.state.db


async def get_refusals(request: Request) -> RefusedAdminCalls:
    return request.app.state.admin_refusals


async def get_tokens(request: Request) -> Tokens:
    return request.app.state.tokens


Runtime = Annotated[IMRuntime, Depends(get_runtime)]
Settings = Annotated[IMSettings, Depends(get_settings)]
DB = Annotated[Database, Depends(get_database)]
AdminRefusals = Annotated[RefusedAdminCalls, Depends(get_refusals)]
AccessTokens = Annotated[Tokens, Depends(get_tokens)]


# ---- the administrator --------------------------------------------------------------------------------


def require_admin(action: str) -> Callable[..., Coroutine[Any, Any, None]]:
    """`dependencies=[Depends(require_admin("config.read"))]`: the administrator's Bearer token, or 401 (429 for
    a source refused too often in one second). A refusal comes before the body is read and is audited in
    aggregate (audit/refusals.py) as `action`."""

    async def admin_only(request: Request, tokens: AccessTokens, tallies: AdminRefusals) -> None:
        if is_admin(request, tokens.admin):
            return
        source = request.client.host if request.client else "unknown"
        query = request.scope.get("query_string", b"")[:200].decode("latin-1")
        path = request.url.path + ("?" + query if query else "")
        if tallies.refuse(source, action, path):
            message = "too many refused administrative calls; retry later"
            raise IMError(TOO_MANY_REQUESTS, message, {"Retry-After": "1"})
        raise IMError(UNAUTHORIZED, "administrator credential required (Authorization: Bearer <token>)")

    return admin_only


async def reader_only(request: Request, tokens: AccessTokens) -> None:
    """Trace, monitoring and metrics: the viewer's or the administrator's Bearer token (trace/access.py)."""
    require_reader(request, tokens)


# ---- pub/sub ------------------------------------------------------------------------------------------


class RoomCall:
    """The authenticated client of one pub/sub request, its room and what it may do there."""

    def __init__(self, runtime: IMRuntime, room: str, client: str):
        self.runtime, self.room, self.client = runtime, room, client

    @property
    def owner(self) -> bool:
        return self.client == self.room

    def require_owner(self) -> None:
        if not self.owner:
            raise PubSubError(FORBIDDEN, f"only the room's application {self.room} administers its event types")

    def require_right(self, service_code: str, what: str) -> None:
        entry = self.runtime.snapshot.services.get(f"{self.room}/{service_code}")
        if self.owner or (entry is not None and entry.enabled and self.client in entry.allowed):
            return
        raise PubSubError(FORBIDDEN, f"client {self.client} has no right to {what} in room {self.room}")

    def run(self, work: Callable[Concatenate[Session, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
        """`work(session, ...)` in one transaction (writers of one SQLite process take turns)."""
        with self.runtime.pubsub.write_lock, self.runtime.db.session() as session:
            return work(session, *args, **kwargs)


async def room_call(
    request: Request,
    runtime: Runtime,
    instance_id: Annotated[str, Path(alias="instanceId")],
    member_class: Annotated[str, Path(alias="memberClass")],
    member_code: Annotated[str, Path(alias="memberCode")],
    application_code: Annotated[str, Path(alias="applicationCode")],
) -> RoomCall:
    """The room from the path (`/r1/{instanceId}/{memberClass}/{memberCode}/{applicationCode}/...`) and the
    client, authenticated like any IM call."""
    return open_room(runtime, request.headers, f"{instance_id}/{member_class}/{member_code}/{application_code}")


def open_room(runtime: IMRuntime, headers: Headers, room: str) -> RoomCall:
    """`room_call` for a caller outside FastAPI's dependencies (the publish path, `pubsub/publish_path.py`)."""
    claimed = (
        headers.get("information-mediator-client") or headers.get("x-govstack-client") or headers.get("x-road-client")
    )
    client = authenticate_client(runtime.snapshot, claimed, headers.get(SECRET_HEADER))
    if room not in runtime.snapshot.clients:
        raise IMError(UNKNOWN_SERVICE, f"unknown room {room}")
    return RoomCall(runtime, room, client)


Room = Annotated[RoomCall, Depends(room_call)]
