"""Contract checks against the GovStack Identity OpenAPI files shipped with the conformance kit
(sandbox/check/specs/identity/, helper sandbox/check/openapi.py).

`validate(response)` checks one httpx response (status, media type, headers, body schema) with openapi-core
against the operation it answered: `enrollment.yaml` for `/enrollment`, `Identity-Provider.yaml` for every
other path. Where this service answers a status the operation does not list, on purpose (README "Conformance":
403 for a failed XSRF check, 400/409 for a refused enrollment, ...), `documented_as=200` checks the body as the
operation's documented answer, which is where the spec puts its error codes.
"""

from __future__ import annotations

import httpx

from sandbox.check.openapi import load

PROVIDER = "identity/Identity-Provider.yaml"
ENROLLMENT = "identity/enrollment.yaml"


def require_specs() -> None:
    """The specs ship with the package: nothing to skip (kept for the tests that call it)."""


def validate(
    response: httpx.Response,
    *,
    documented_as: int | None = None,
    ignore_headers: tuple[str, ...] = (),
) -> None:
    """Raises an openapi-core error unless the response is one the operation documents."""
    if ignore_headers:
        headers = {k: v for k, v in response.headers.items() if k.lower() not in ignore_headers}
        response = httpx.Response(
            response.status_code, headers=headers, content=response.content, request=response.request
        )
    enrollment = response.request.url.path == "/enrollment"
    spec = load(ENROLLMENT, checked=False) if enrollment else load(PROVIDER)
    spec.validate(response, status=documented_as)


def error_codes(response: httpx.Response) -> list[str]:
    return [error["errorCode"] for error in response.json().get("errors") or []]
