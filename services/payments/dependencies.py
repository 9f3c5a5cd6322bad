"""What the Payments routes take as parameters instead of reading `app.state`: the settings, the database, the IM
client, the background worker and the caller the IM vouches for.

All `async def`: they only read state, and a sync dependency would cost a thread-pool hop."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from services.common.app import im_caller, im_client
from services.common.assertion import VerifiedCall
from services.common.database import Database
from services.common.im_client import IMClient

from .settings import PaymentsSettings
from .worker import Worker


async def get_settings(request: Request) -> PaymentsSettings:
    return request.app.state.settings


async def get_database(request: Request) -> Database:
    """For a route that opens its own sessions (work in a thread, several transactions); others take `DBSession`."""
    return request.app.state.db


async def get_im(request: Request) -> IMClient:
    """The IM client, or 503 when this service has none configured."""
    return im_client(request)


async def get_optional_im(request: Request) -> IMClient | None:
    return request.app.state.im


async def get_worker(request: Request) -> Worker | None:
    """The background worker, None when it is switched off (`PAYMENTS_WORKER_ENABLED=false`)."""
    return request.app.state.worker


async def get_caller(request: Request) -> VerifiedCall | None:
    """The client application the IM vouches for; None on a public route or with the checks switched off."""
    return im_caller(request)


Settings = Annotated[PaymentsSettings, Depends(get_settings)]
DB = Annotated[Database, Depends(get_database)]
IM = Annotated[IMClient, Depends(get_im)]
OptionalIM = Annotated[IMClient | None, Depends(get_optional_im)]
BackgroundWorker = Annotated[Worker | None, Depends(get_worker)]
IMCaller = Annotated[VerifiedCall | None, Depends(get_caller)]
