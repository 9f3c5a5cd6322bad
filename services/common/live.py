"""The live refresh of server-rendered pages (`static/live.js`): a page marks the regions that change by
themselves with `data-live="<name>"` and its body with `data-refresh-seconds`; the script fetches the page
again with the header `X-Live-Refresh: 1` and replaces only the regions whose HTML changed. A page answering
such a fetch asks no other service anything: it shows what its service already knows. Served by the service
itself, so a CSP of `script-src 'self'` allows it; pages work without it."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).parent / "static"
HEADER = "x-live-refresh"


def serve_script(app: FastAPI, path: str) -> None:
    """`<path>/live.js` (e.g. /static/live.js)."""
    app.mount(path, StaticFiles(directory=STATIC), name=f"live-{path.strip('/').replace('/', '-')}")


def is_live_refresh(request: Request) -> bool:
    return request.headers.get(HEADER) == "1"
