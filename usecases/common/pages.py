"""What every use case's server-rendered pages share: the template loader (the use case's own templates
first, then `usecase_base.html`), the behind-the-scenes panel, and the redirect back after a form post."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from services.common import live
from services.common.errors import APIError, ErrorRenderer, PageRenderer
from services.common.im_client import current_message_id

from . import trace
from .dependencies import settings_of

COMMON_TEMPLATES = Path(__file__).parent / "templates"


def templates_for(package_dir: Path) -> Jinja2Templates:
    templates = Jinja2Templates(directory=[package_dir / "templates", COMMON_TEMPLATES])
    templates.env.filters["readable"] = readable
    return templates


def serve_static(app: FastAPI) -> None:
    """/static/live.js: the pages' own script (services/common/live.py), the only one the CSP allows."""
    live.serve_script(app, "/static")


def readable(moment: str | datetime | None) -> str:
    """An ISO date-time as people read it: "26 Nov 2026, 19:44" (the text unchanged if it is not one)."""
    if not moment:
        return ""
    try:
        value = moment if isinstance(moment, datetime) else datetime.fromisoformat(str(moment))
    except ValueError:
        return str(moment)
    return value.strftime("%-d %b %Y, %H:%M")


# Which building block or use case a trace's application code is, and what a call to a path does, in words.
PARTIES = {
    "IDENTITY": "Identity BB",
    "CONSENT": "Consent BB",
    "PAYMENTS": "Payments BB",
    "USCT": "Cash transfer",
    "CONSTRUCTION-PERMIT": "Construction permit",
}
DOINGS = (  # (method or "*", a fragment of the path, what the call does), the first match wins
    ("*", "verification/consent-records", "checked consent"),
    ("*", "/signature", "sealed the consent record"),
    ("PUT", "consent-record/", "recorded the resident's decision"),
    ("POST", "record/data-agreement", "asked for consent"),
    ("GET", "record/data-agreement", "read the current consent"),
    ("GET", "data-agreement", "read the data agreement"),
    ("GET", "/service/individuals", "looked the resident up"),
    ("POST", "/service/individual", "registered the resident"),
    ("*", "/verification", "verified facts about a person (yes/no)"),
    ("*", "register-beneficiary", "registered the payment account"),
    ("*", "prepayment-validation", "validated the payment batch"),
    ("*", "bulk-payment", "ordered the payment"),
    ("*", "/token", "redeemed the login code"),
    ("*", "userinfo", "read the signed person details"),
    ("*", "bill", "handled the fee bill"),
    ("*", "callback", "reported back"),
    ("*", "publish", "published a notification"),
    ("*", "event", "delivered a notification"),
)


def party(address: str | None) -> str:
    """`SANDBOX/GOV/MEMBER/APPLICATION[/service]` → a name people know."""
    parts = (address or "").split("/")
    application = parts[3] if len(parts) > 3 else parts[-1]
    return PARTIES.get(application, application.replace("-", " ").capitalize() or "unknown")


def doing(method: str, path: str) -> str:
    for verb, fragment, words in DOINGS:
        if fragment in path and verb in ("*", method):
            return words
    return f"called {path.rstrip('/').rsplit('/', 1)[-1] or path}"


def story(exchange: dict) -> dict:
    """One IM exchange as a row of the panel: "Cash transfer → Consent BB: checked consent ✓"."""
    status = exchange.get("status") or 0
    method, path = exchange.get("method") or "", exchange.get("path") or ""
    return {
        "who": party(exchange.get("client")),
        "whom": party(exchange.get("service")),
        "what": doing(method, path),
        "ok": isinstance(status, int) and 0 < status < 400,
        "exchange": exchange,
    }


def panel(request: Request, mid: str | None = None, action: str | None = None) -> dict | None:
    """The IM exchanges of an action, named in the query (`?mid=...&action=...`) or here, for the panel."""
    mid = mid or request.query_params.get("mid")
    if not mid:
        return None
    settings = settings_of(request)
    exchanges = trace.exchanges(settings, mid)
    return {
        "messageId": mid,
        "link": trace.trace_link(settings, mid),
        "action": action or request.query_params.get("action", ""),
        "why": request.query_params.get("why", "")[:200],
        "exchanges": exchanges,
        "rows": [story(x) for x in exchanges],
    }


def tracker(labels: list[str], reached: int) -> list[dict]:
    """A step tracker: steps before `reached` are done, `reached` is the current one."""
    return [
        {"label": label, "state": "done" if i < reached else "current" if i == reached else "todo"}
        for i, label in enumerate(labels)
    ]


def back(path: str, action: str, error: str | None = None, why: str | None = None) -> RedirectResponse:
    """After a form post: back to the page, which shows what the action caused (or why it was refused);
    `why` says why a step calls no building block, when it calls none."""
    separator = "&" if "?" in path else "?"
    query = f"mid={current_message_id.get()}&action={quote(action)}"
    if error:
        query += f"&error={quote(error[:200])}"
    if why:
        query += f"&why={quote(why[:200])}"
    return RedirectResponse(f"{path}{separator}{query}", status_code=303)


def message(exc: APIError) -> str:
    body = exc.body if isinstance(exc.body, dict) else {}
    details = "; ".join(f"{d.get('reason')}" for d in body.get("details", []) if isinstance(d, dict))
    return (body.get("message") or "refused") + (f" ({details})" if details else "")


ERROR_PAGES = {  # status → (title, what to tell the person)
    401: ("Please log in", "This page is for people who are logged in."),
    403: ("You cannot do this", "Your login does not allow this page or action."),
    404: ("Page not found", "If you typed the web address, check it is correct. The page may also have moved."),
    405: ("Page not found", "This address is not a page."),
}
SERVER_ERROR = ("Sorry, there is a problem with the service", "Try again later; what you did was not saved.")


def wants_page(request: Request) -> bool:
    """A browser asking for a page (not the JSON API, nor a building block calling back)."""
    accepts_html = "text/html" in request.headers.get("accept", "")
    return accepts_html and not request.url.path.startswith(("/api/", "/callbacks", "/health"))


def error_page(templates: Jinja2Templates, request: Request, status: int, message: str) -> Response:
    """The page a person sees instead of an error's JSON."""
    title, advice = SERVER_ERROR if status >= 500 else ERROR_PAGES.get(status, ("That did not work", message))
    context = {
        "refresh": False,
        "user": None,
        "panel": None,
        "settings": settings_of(request),
        "status": status,
        "heading": title,
        "advice": advice,
        "reason": message if 400 <= status < 500 and status not in (404, 405) else "",
    }
    return templates.TemplateResponse(request, "error_page.html", context, status_code=status)


def page_errors(templates: Jinja2Templates) -> PageRenderer:
    """`app.state.error_page`: a page people can read for a browser's page request, None for other clients."""

    def page(request: Request, status: int, message: str) -> Response | None:
        return error_page(templates, request, status, message) if wants_page(request) else None

    return page


def html_errors(templates: Jinja2Templates, render: ErrorRenderer) -> ErrorRenderer:
    """Errors as a page people can read for browsers; `render`'s documented shape for every other client."""
    page = page_errors(templates)

    def render_for(request: Request, status: int, message: str, details: list) -> Response:
        return page(request, status, message) or render(request, status, message, details)

    return render_for
