"""The operations an access right may be limited to (X-Road's REST service endpoints).

An operation is an HTTP method, or `*` for any method, and a path pattern below the service (the part of
`/r1/{instance}/{class}/{member}/{application}/{service}/...` after the service code). Patterns are matched
segment by segment, case-sensitively, against the request path as the provider routes it (percent-decoded
once, the query string left out):

| pattern segment | matches |
|---|---|
| `bulk-payment` | that segment exactly |
| `*` or `{name}` (an OpenAPI path template) | exactly one non-empty segment |
| `**`, last segment only | the rest of the path: nothing, or any number of segments |

The path `*` (or `/**`) matches every path. Wildcards are whole segments (`/bulk-*` is refused). A request
path with a `.` or `..` segment never matches: servers differ on whether they resolve dot segments.
A right without operations covers the whole service.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from urllib.parse import unquote

ANY_METHOD = "*"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE"})
MAX_PATH_LENGTH = 1024
MAX_PER_RIGHT = 200
_TEMPLATE = re.compile(r"^\{[A-Za-z0-9_.\-]+\}$")
# Nothing a request path reaching the provider could hold in that place: a query, a fragment, an escape.
_FORBIDDEN = re.compile(r"[?#%\s\x00-\x1f\x7f]")
_DOT_SEGMENT = re.compile(r"(^|/)\.\.?(/|$)")


def normalise_method(value: object) -> str:
    method = value.strip().upper() if isinstance(value, str) else ""
    if method != ANY_METHOD and method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(sorted(METHODS))} or '*'")
    return method


def normalise_path(value: object) -> str:
    """The pattern as stored; ValueError with the reason when it is not one."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError("path must be a pattern such as /bulk-payment, /bills/*, /api/v1/** or *")
    path = value.strip()
    if path in ("*", "**"):
        return "*"
    if len(path) > MAX_PATH_LENGTH:
        raise ValueError(f"path must be at most {MAX_PATH_LENGTH} characters")
    if not path.startswith("/"):
        raise ValueError("path must start with '/' (or be '*' for every path)")
    if _FORBIDDEN.search(path):
        raise ValueError("path must not contain '?', '#', '%', spaces or control characters")
    segments = path[1:].split("/")
    for i, segment in enumerate(segments):
        _check_segment(segment, last=i == len(segments) - 1)
    return path


def _check_segment(segment: str, last: bool) -> None:
    if segment in (".", ".."):
        raise ValueError("path must not contain '.' or '..' segments")
    if segment == "**" and not last:
        raise ValueError("'**' may only be the last segment of a path")
    if segment not in ("*", "**") and "*" in segment:
        raise ValueError("'*' must be a whole segment (e.g. /bills/*), not part of one")
    if ("{" in segment or "}" in segment) and not _TEMPLATE.match(segment):
        raise ValueError("'{name}' must be a whole segment (e.g. /bills/{billId})")


def _regex(path: str) -> str:
    if path == "*":
        return r"/.*"
    parts = []
    for segment in path[1:].split("/"):
        if segment == "**":
            parts.append(r"(?:/.*)?")
        elif segment == "*" or _TEMPLATE.match(segment):
            parts.append(r"/[^/]+")
        else:
            parts.append("/" + re.escape(segment))
    return "".join(parts)


def _alternatives(paths: Iterable[str]) -> re.Pattern[str] | None:
    regexes = sorted({_regex(p) for p in paths})
    return re.compile("|".join(f"(?:{r})" for r in regexes), re.DOTALL) if regexes else None


class Operations:
    """A right's operations, compiled once when the registry snapshot is built: one regex per method."""

    __slots__ = ("_any", "_by_method", "endpoints")

    def __init__(self, endpoints: Iterable[Mapping[str, str]]):
        self.endpoints: tuple[dict[str, str], ...] = tuple(
            {"method": e["method"], "path": e["path"]} for e in endpoints
        )
        any_method = [e["path"] for e in self.endpoints if e["method"] == ANY_METHOD]
        self._any = _alternatives(any_method)
        self._by_method = {
            method: _alternatives(any_method + [e["path"] for e in self.endpoints if e["method"] == method])
            for method in {e["method"] for e in self.endpoints} - {ANY_METHOD}
        }

    def permit(self, method: str, path: str) -> bool:
        """`path`: the raw path below the service, still percent-encoded ('' for its root, no query string)."""
        rx = self._by_method.get(method.upper(), self._any)
        if rx is None:
            return False
        decoded = unquote(path) if "%" in path else path
        if not decoded.startswith("/"):
            decoded = "/" + decoded
        if "." in decoded and _DOT_SEGMENT.search(decoded):
            return False
        return rx.fullmatch(decoded) is not None
