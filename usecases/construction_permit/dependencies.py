"""The construction-permit routes' typed dependencies (the shared ones, and the rule on async routes, are in
`usecases.common.dependencies`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Annotated

from fastapi import Depends, Request

from usecases.common.dependencies import DB, IM, Databases, FormFields, get_settings

from .settings import ConstructionPermitSettings

__all__ = ["DB", "IM", "Databases", "FormFields", "Settings", "WakePublisher"]


async def wake_publisher(request: Request) -> AsyncIterator[Callable[[], None]]:
    """`wake()` when the route recorded news: the notification publisher is woken once the response is out,
    after the route's commit (it would find nothing before)."""
    news: list[bool] = []
    yield lambda: news.append(True)
    publisher = request.app.state.publisher  # None without an IM client
    if news and publisher is not None:
        publisher.wake()


Settings = Annotated[ConstructionPermitSettings, Depends(get_settings)]
WakePublisher = Annotated[Callable[[], None], Depends(wake_publisher)]
