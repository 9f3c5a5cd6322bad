"""Per-client concurrency: one member's slow or numerous calls cannot take every connection to providers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from .errors import TOO_MANY_REQUESTS, IMError


class ClientSlots:
    def __init__(self, per_client: int, wait_seconds: float):
        self.per_client = per_client
        self.wait_seconds = wait_seconds
        self._slots: dict[str, asyncio.Semaphore] = {}

    @asynccontextmanager
    async def slot(self, client_id: str) -> AsyncIterator[None]:
        """Holds one of the client's slots while its exchange runs; waits a little for one, then refuses."""
        semaphore = self._slots.get(client_id) or self._slots.setdefault(client_id, asyncio.Semaphore(self.per_client))
        if semaphore.locked():  # all taken: a timer only then (it costs more than taking a free slot)
            try:
                async with asyncio.timeout(self.wait_seconds):
                    await semaphore.acquire()
            except TimeoutError as exc:
                raise IMError(
                    TOO_MANY_REQUESTS, f"more than {self.per_client} concurrent calls from {client_id}"
                ) from exc
        else:
            await semaphore.acquire()  # returns at once
        try:
            yield
        finally:
            semaphore.release()
