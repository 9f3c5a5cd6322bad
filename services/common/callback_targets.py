"""Which URLs a service may call back on a caller's behalf (no confused deputy).

A callback sent to an IM URL travels with the *sending* service's IM identity. Were any URL accepted, a
caller could name another member's service and have it called with our credential. So a callback target
is either an IM service of the calling application itself, `{im_url}/r1/{caller's client id}/{service}/...`,
or a URL on the operator's allow-list. Without a verified caller no IM URL is accepted (no deputy without
a principal), only allow-listed ones.

URLs are parsed and compared as httpx (which sends them) and the IM (which routes them) read them: dot
segments are resolved first, and the IM's id segments are compared percent-decoded, one by one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import unquote

import httpx

# Under /r1/<client>/ these names are the IM's own endpoints (metadata, pub/sub), never a service.
IM_RESERVED_SERVICES = frozenset({"listMethods", "allowedMethods", "getOpenAPI", "api", "pub", "pull"})
_ABSOLUTE_HTTP_URL = re.compile(r"^https?://[^\s/?#]+[^\s]*$")
_DEFAULT_PORTS = {"http": 80, "https": 443}


class RefusedTarget(ValueError):
    """The URL may not be called back; the message says why (safe to show the caller)."""


def _parse(url: str) -> httpx.URL:
    if not _ABSOLUTE_HTTP_URL.match(url):
        raise RefusedTarget("must be an absolute http(s) URL")
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError) as exc:
        raise RefusedTarget("must be an absolute http(s) URL") from exc
    if parsed.userinfo:
        raise RefusedTarget("must not carry credentials")
    return parsed


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return url.scheme, url.host, url.port or _DEFAULT_PORTS.get(url.scheme)


def _path(url: httpx.URL) -> str:
    return url.raw_path.decode("ascii").split("?", 1)[0]


def _under(target: httpx.URL, prefix: httpx.URL) -> bool:
    if _origin(target) != _origin(prefix):
        return False
    base = _path(prefix).rstrip("/")
    path = _path(target)
    return not base or path == base or path.startswith(base + "/")


def checked_allow_list(entries: list[str]) -> list[str]:
    """For a settings validator: every entry must be an absolute http(s) URL (a prefix of allowed targets)."""
    for entry in entries:
        try:
            _parse(entry)
        except RefusedTarget as exc:
            raise ValueError(f"callback allow-list entry {entry!r} {exc}") from exc
    return entries


def _im_service_owner(target: httpx.URL, im_url: str) -> list[str] | None:
    """The client id segments of an `{im_url}/r1/I/C/M/A/service[/...]` URL, None if not an IM URL."""
    im = _parse(im_url.rstrip("/") + "/r1")
    if not _under(target, im):
        return None
    rest = _path(target)[len(_path(im)) + 1 :].split("/")
    if len(rest) < 5 or not all(rest[:5]) or unquote(rest[4]) in IM_RESERVED_SERVICES:
        raise RefusedTarget("must name an IM service: {im_url}/r1/INSTANCE/CLASS/MEMBER/APPLICATION/SERVICE/...")
    return [unquote(segment) for segment in rest[:4]]


def check_callback_target(url: str, caller: str | None, im_url: str, allow_list: Iterable[str] = ()) -> None:
    """Raises RefusedTarget unless `url` is allow-listed or an IM service of `caller` (a client id)."""
    target = _parse(url)
    if any(_under(target, _parse(entry)) for entry in allow_list):
        return
    owner = _im_service_owner(target, im_url)
    if owner is None:
        raise RefusedTarget("must be an IM service of the calling application (or an allow-listed URL)")
    if caller is None:
        raise RefusedTarget("an IM URL needs a caller known through the IM")
    if owner != caller.split("/"):
        raise RefusedTarget("must be an IM service of the calling application, not of another one")
