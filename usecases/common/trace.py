"""The "behind the scenes" panel: the IM exchanges one user action caused, from the IM trace API."""

from __future__ import annotations

import asyncio

import httpx

from .settings import UseCaseSettings


async def exchanges(settings: UseCaseSettings, message_id: str, delay: float | None = None) -> list[dict]:
    """Oldest first (`settings` has `im_url`, `trace_delay_seconds`). The IM writes its message log in
    batches (≤ 50 ms behind), hence the short delay."""
    await asyncio.sleep(settings.trace_delay_seconds if delay is None else delay)
    try:
        async with httpx.AsyncClient(timeout=5) as http:
            response = await http.get(
                settings.im_url.rstrip("/") + "/api/v1/trace", params={"messageId": message_id, "limit": 200}
            )
        rows = response.json().get("exchanges", []) if response.status_code == 200 else []
    except (httpx.HTTPError, ValueError):
        rows = []
    return sorted(rows, key=lambda r: r.get("requestAt", ""))


def trace_link(settings: UseCaseSettings, message_id: str) -> str:
    return f"{settings.im_url.rstrip('/')}/ui/trace?messageId={message_id}"
