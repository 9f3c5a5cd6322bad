"""Contract checks against the GovStack IM OpenAPI files (`../shared/govstack/information_mediator/api/`).

`validate(spec, response)` checks one httpx response (status, media type, body schema) with openapi-core.
`strict(name)` is the same file with `additionalProperties: false` on every object schema that lists its
properties, so a response with a member the spec does not name (or a `null`, which OpenAPI 3.0 refuses
without `nullable`) fails too: the Directory findings of CONFORMANCE.md ask for exactly that.
"""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from openapi_core import Config, OpenAPI
from openapi_core.testing import MockRequest, MockResponse

GOVSTACK = Path(__file__).parents[3] / ".." / "shared" / "govstack"
IM_API = GOVSTACK / "information_mediator" / "api"
DIRECTORY = "GovStack_IM_Directory_Services_API.yaml"
CONFIGURATION = "GovStack_IM_Configuration_Management_API.yaml"


# openapi-core has no deserializer for text/yaml: the documented schema of that form is the YAML text itself.
def _text(data: bytes, **parameters: str) -> str:
    return data.decode(parameters.get("charset", "utf-8"))


_CONFIG = Config(extra_media_type_deserializers={"text/yaml": _text})


def require_specs() -> None:
    if not IM_API.is_dir():
        pytest.skip(f"the GovStack specification folder {IM_API.resolve()} is absent (it sits beside the checkout)")


def _document(name: str) -> dict:
    require_specs()
    return yaml.safe_load((IM_API / name).read_text())


@cache
def spec(name: str) -> OpenAPI:
    return OpenAPI.from_dict(_document(name), config=_CONFIG)


@cache
def strict(name: str) -> OpenAPI:
    doc = copy.deepcopy(_document(name))
    _close_objects(doc.get("components", {}).get("schemas", {}))
    for item in doc.get("paths", {}).values():
        _close_objects(item)
    return OpenAPI.from_dict(doc, config=_CONFIG)


def _close_objects(node: Any) -> None:
    if isinstance(node, dict):
        if isinstance(node.get("properties"), dict) and "additionalProperties" not in node:
            node["additionalProperties"] = False
        for value in node.values():
            _close_objects(value)
    elif isinstance(node, list):
        for value in node:
            _close_objects(value)


def validate(api: OpenAPI, response: httpx.Response, path: str | None = None) -> None:
    """Raises an openapi-core error unless the response is one the operation documents. `path` replaces the
    request's path (e.g. the directory's routes without `/r1`, which the spec lists only with it)."""
    sent = response.request
    request = MockRequest(
        host_url=f"{sent.url.scheme}://{sent.url.netloc.decode()}",
        method=sent.method,
        path=path or sent.url.path,
        args=dict(sent.url.params),
        headers=dict(sent.headers),
        data=sent.content,
        content_type=sent.headers.get("content-type", "application/json"),
    )
    answer = MockResponse(
        response.content,
        response.status_code,
        headers=dict(response.headers),
        content_type=response.headers.get("content-type", ""),
    )
    api.validate_response(request, answer)
