"""The "behind the scenes" panel: the IM exchanges one user action caused, from the IM trace API."""

from __future__ import annotations

import time
from urllib.parse import urlencode

import httpx

from services.common.tls import client_context

from .settings import UseCaseSettings


def exchanges(settings: UseCaseSettings, message_id: str, delay: float | None = None) -> list[dict]:
    """Oldest first, read with the IM's viewer token. The IM writes its message log in batches (≤ 50 ms
    behind), hence the short delay."""
    time.sleep(settings.trace_delay_seconds if delay is None else delay)
    headers = {"Authorization": f"Bearer {settings.im_viewer_token}"} if settings.im_viewer_token else {}
    try:
        with httpx.Client(timeout=5, headers=headers, verify=client_context()) as http:
            response = http.get(
                settings.im_url.rstrip("/") + "/api/v1/trace", params={"messageId": message_id, "limit": 200}
            )
        rows = response.json().get("exchanges", []) if response.status_code == 200 else []
    except (httpx.HTTPError, ValueError):
        rows = []
    return sorted(rows, key=lambda r: r.get("requestAt", ""))


def trace_link(settings: UseCaseSettings, message_id: str) -> str:
    """The IM's trace page for this action, opening with the viewer token."""
    query = {"messageId": message_id} | ({"token": settings.im_viewer_token} if settings.im_viewer_token else {})
    return f"{settings.im_browser_url}/ui/trace?{urlencode(query)}"
