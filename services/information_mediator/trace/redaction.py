"""Personal identifiers out of the paths the trace shows, at read time: the message log keeps the exact path
(it is hash-chained and signed) and the operator may show it (`trace_identifiers`)."""

from __future__ import annotations

import re
from urllib.parse import unquote

HIDDEN = "***"
_DIGIT_RUN = re.compile(r"\d{6,}")  # UIN, VID, phone and account numbers
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")
# Record and message ids: not about a person, and wanted in the trace; their hex may hold long digit runs.
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)


def looks_personal(text: str) -> bool:
    text = unquote(text)
    return not _UUID.fullmatch(text) and bool(_DIGIT_RUN.search(text) or _EMAIL.search(text))


def redact_path(path: str) -> str:
    """`/people/1234567890/x?individualId=1&lang=en` -> `/people/***/x?individualId=***&lang=***`."""
    route, mark, query = path.partition("?")
    segments = (HIDDEN if looks_personal(segment) else segment for segment in route.split("/"))
    return "/".join(segments) + mark + _redact_query(query)


def _redact_query(query: str) -> str:
    items = []
    for item in query.split("&"):
        key, equals, _ = item.partition("=")
        shown_key = HIDDEN if looks_personal(key) else key
        items.append(f"{shown_key}={HIDDEN}" if equals else shown_key)
    return "&".join(items)
