"""What every use case's server-rendered pages share: the template loader (the use case's own templates
first, then `usecase_base.html`), the behind-the-scenes panel, and the redirect back after a form post."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import RedirectResponse
from fastapi.templating import Jinja2Templates

from services.common.errors import APIError
from services.common.im_client import current_message_id

from . import trace

COMMON_TEMPLATES = Path(__file__).parent / "templates"


def templates_for(package_dir: Path) -> Jinja2Templates:
    return Jinja2Templates(directory=[package_dir / "templates", COMMON_TEMPLATES])


async def panel(request: Request) -> dict | None:
    """The IM exchanges of the action named in the query (`?mid=...&action=...`), for the panel."""
    mid = request.query_params.get("mid")
    if not mid:
        return None
    settings = request.app.state.settings
    return {
        "messageId": mid,
        "link": trace.trace_link(settings, mid),
        "action": request.query_params.get("action", ""),
        "exchanges": await trace.exchanges(settings, mid),
    }


def back(path: str, action: str, error: str | None = None) -> RedirectResponse:
    """After a form post: back to the page, which shows what the action caused (or why it was refused)."""
    separator = "&" if "?" in path else "?"
    query = f"mid={current_message_id.get()}&action={quote(action)}"
    if error:
        query += f"&error={quote(error[:200])}"
    return RedirectResponse(f"{path}{separator}{query}", status_code=303)


def message(exc: APIError) -> str:
    body = exc.body if isinstance(exc.body, dict) else {}
    details = "; ".join(f"{d.get('reason')}" for d in body.get("details", []) if isinstance(d, dict))
    return (body.get("message") or "refused") + (f" ({details})" if details else "")
