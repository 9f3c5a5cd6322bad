"""Contract checks against the GovStack Identity OpenAPI files (`../shared/govstack/identity/api/`).

`validate(response)` checks one httpx response (status, media type, headers, body schema) with openapi-core
against the operation it answered: `enrollment.yaml` for `/enrollment`, `Identity-Provider.yaml` for every
other path. Where this service answers a status the operation does not list, on purpose (README "Conformance":
403 for a failed XSRF check, 400/409 for a refused enrollment, ...), `documented_as=200` checks the body as the
operation's documented answer, which is where the spec puts its error codes.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import httpx
import pytest
import yaml
from openapi_core import Config, OpenAPI
from openapi_core.testing import MockRequest, MockResponse

IDENTITY_API = Path(__file__).resolve().parents[3] / ".." / "shared" / "govstack" / "identity" / "api"
PROVIDER = "Identity-Provider.yaml"
ENROLLMENT = "enrollment.yaml"

# openapi-core has no deserializer for application/jwt (userinfo): its documented schema is the token's text.
_MEDIA = {"application/jwt": lambda data: data.decode("ascii")}


def require_specs() -> None:
    if not IDENTITY_API.is_dir():
        pytest.skip(
            f"the GovStack specification folder {IDENTITY_API.resolve()} is absent (it sits beside the checkout)"
        )


@cache
def spec(name: str) -> OpenAPI:
    require_specs()
    document = yaml.safe_load((IDENTITY_API / name).read_text())
    for item in document.get("paths", {}).values():
        for operation in item.values():
            if isinstance(operation, dict) and "responses" in operation:
                # enrollment.yaml writes its status codes as YAML integers (`200:`); OpenAPI keys are strings
                operation["responses"] = {str(code): answer for code, answer in operation["responses"].items()}
    if name == ENROLLMENT:
        # enrollment.yaml is not a valid OpenAPI document (request schemas such as `items: {properties: {type:
        # string}}`); its response schemas are sound, so it is used without the document check.
        return OpenAPI.from_dict(
            document, config=Config(spec_validator_cls=None, extra_media_type_deserializers=_MEDIA)
        )
    return OpenAPI.from_dict(document, config=Config(extra_media_type_deserializers=_MEDIA))


def validate(
    response: httpx.Response,
    *,
    documented_as: int | None = None,
    ignore_headers: tuple[str, ...] = (),
) -> None:
    """Raises an openapi-core error unless the response is one the operation documents."""
    sent = response.request
    request = MockRequest(
        host_url=f"{sent.url.scheme}://{sent.url.netloc.decode()}",
        method=sent.method.lower(),
        path=sent.url.path,
        args=dict(sent.url.params),
        headers=dict(sent.headers),
        data=sent.content,
        content_type=sent.headers.get("content-type", "application/json"),
    )
    headers = {k: v for k, v in response.headers.items() if k.lower() not in ignore_headers}
    answer = MockResponse(
        response.content,
        documented_as or response.status_code,
        headers=headers,
        content_type=response.headers.get("content-type", ""),
    )
    spec(ENROLLMENT if sent.url.path == "/enrollment" else PROVIDER).validate_response(request, answer)


def error_codes(response: httpx.Response) -> list[str]:
    return [error["errorCode"] for error in response.json().get("errors") or []]
