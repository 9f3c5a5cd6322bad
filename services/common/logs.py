"""Plain or JSON log lines, and the access log; personal data and secrets are never passed to loggers."""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from datetime import UTC, datetime

from starlette.types import ASGIApp, Message, Receive, Scope, Send

access_log = logging.getLogger("access")
# What a service may set in `request.state` (`scope["state"]`) to say why it refused a request: a fixed
# message or field names, never input. The access line shows it.
LOG_REASON = "log_reason"
# What a service sets in `scope["state"]` when it keeps its own record of the request (the IM's message log has
# every /r1 exchange): no access line then. The line cost the IM a twelfth of its CPU per exchange.
RECORDED_ELSEWHERE = "recorded_elsewhere"
QUIET_PATHS = frozenset({"/health", "/ready"})  # probed every few milliseconds while the sandbox starts
MESSAGE_ID = b"x-road-id"
# A path segment that may identify a person or a record: two digits or more, `@` or `:`, or very long
# (`v1`, `r1` stay).
_IDENTIFIER = re.compile(r"[0-9].*[0-9]|[@:]|^.{33,}$")


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def configure_logging(json_lines: bool = False, level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JSONFormatter() if json_lines else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Request lines can carry identifiers in query strings: keep client libraries quiet.
    for noisy in ("httpx", "httpcore", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def path_template(scope: Scope) -> str:
    """The request's path with each identifier as a placeholder: a path parameter of the route that served it
    by its name (`/consent-record/{consentRecordId}/`), any other segment that may be an identifier (a path
    no route serves, such as the IM's `/r1/...`, or one refused before routing) as `{id}`."""
    names = {str(v): name for name, v in (scope.get("path_params") or {}).items() if str(v)}
    segments = scope["path"].split("/")
    return "/".join(f"{{{names[s]}}}" if s in names else "{id}" if _IDENTIFIER.search(s) else s for s in segments)[:200]


class AccessLogMiddleware:
    """One line per request (but those a service records itself: `RECORDED_ELSEWHERE`): method, path template,
    status, duration, the IM message id (`X-Road-Id` of the response, else of the request) and the refusal's
    reason when the service gave one. No query string, no identifier, no header:
    `GET /service/data-agreement/{dataAgreementId}/ 401 1.2 ms message=- (...)`."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in QUIET_PATHS:
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        status, message_id = 500, _header(scope["headers"], MESSAGE_ID)

        async def send_and_note(message: Message) -> None:
            nonlocal status, message_id
            if message["type"] == "http.response.start":
                status = message["status"]
                message_id = _header(message.get("headers", []), MESSAGE_ID) or message_id
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            state = scope.get("state", {})
            reason = state.get(LOG_REASON)
            if not state.get(RECORDED_ELSEWHERE):
                access_log.info(
                    "%s %s %s %.1f ms message=%s%s",
                    scope["method"],
                    path_template(scope),
                    status,
                    (time.perf_counter() - started) * 1000,
                    message_id or "-",
                    f" ({reason})" if reason else "",
                )


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> str | None:
    return next((value.decode("latin-1") for key, value in headers if key.lower() == name), None)
