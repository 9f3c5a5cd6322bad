"""Contract checks against the GovStack IM OpenAPI files shipped with the conformance kit
(sandbox/check/specs/information_mediator/, helper sandbox/check/openapi.py).

`validate(spec, response)` checks one httpx response (status, media type, body schema) with openapi-core.
`strict(name)` is the same file with `additionalProperties: false` on every object schema that lists its
properties, so a response with a member the spec does not name (or a `null`, which OpenAPI 3.0 refuses
without `nullable`) fails too: the Directory findings of CONFORMANCE.md ask for exactly that.
"""

from __future__ import annotations

import httpx

from sandbox.check.openapi import Spec, load

DIRECTORY = "information_mediator/GovStack_IM_Directory_Services_API.yaml"
CONFIGURATION = "information_mediator/GovStack_IM_Configuration_Management_API.yaml"


def require_specs() -> None:
    """The specs ship with the package: nothing to skip (kept for the tests that call it)."""


def spec(name: str) -> Spec:
    return load(name)


def strict(name: str) -> Spec:
    return load(name, strict=True)


def validate(api: Spec, response: httpx.Response, path: str | None = None) -> None:
    """Raises an openapi-core error unless the response is one the operation documents. `path` replaces the
    request's path (e.g. the directory's routes without `/r1`, which the spec lists only with it)."""
    api.validate(response, path=path)
