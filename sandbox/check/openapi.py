"""The GovStack OpenAPI documents shipped with the kit (specs/, see specs/NOTICE.md) and one way to check an
answer against them with openapi-core: `Spec.problem(response)` says in words how an httpx response differs
from what the operation documents (None when it conforms). The contract tests under tests/services use the
same helper, so they run in a bare clone too.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import yaml
from openapi_core import Config, OpenAPI
from openapi_core.testing import MockRequest, MockResponse

SPECS = Path(__file__).with_name("specs")
METHODS = ("get", "put", "post", "patch", "delete")


def _text(data: bytes, **parameters: str) -> str:
    """openapi-core has no deserializer for these media types: their documented schema is the text itself."""
    return data.decode(parameters.get("charset", "utf-8"))


# text/yaml: the IM's getOpenAPI; application/jwt: Identity's userinfo.
_MEDIA = {"text/yaml": _text, "application/jwt": _text}


def spec_file(relative: str) -> Path:
    """A shipped spec file, e.g. `identity/Identity-Provider.yaml`."""
    return SPECS / relative


def read_document(path: Path) -> dict:
    """The document as OpenAPI means it: status keys as strings (some files write `200:`), one server `/`
    (the kit gives paths relative to the implementation's base URL)."""
    text = path.read_text()
    document = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    document = json.loads(json.dumps(document, default=str))  # YAML integer keys and dates become strings
    document["servers"] = [{"url": "/"}]
    return document


def close_objects(node: Any) -> None:
    """`additionalProperties: false` on every object schema that lists its properties (and no `null` without
    `nullable`, as OpenAPI 3.0 says): a member the spec does not name fails too."""
    if isinstance(node, dict):
        if isinstance(node.get("properties"), dict) and "additionalProperties" not in node:
            node["additionalProperties"] = False
        for value in node.values():
            close_objects(value)
    elif isinstance(node, list):
        for value in node:
            close_objects(value)


@dataclass(frozen=True)
class Operation:
    method: str  # upper case
    path: str  # the template, e.g. /config/policy/{policyId}/
    spec: dict  # the operation object

    @property
    def key(self) -> str:
        return f"{self.method} {self.path}"

    def matches(self, method: str, path: str) -> bool:
        pattern = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(self.path))
        return method.upper() == self.method and re.fullmatch(pattern, path) is not None

    def statuses(self) -> list[str]:
        return [str(code) for code in self.spec.get("responses", {})]


class Spec:
    """One OpenAPI document. `strict` closes its object schemas (see close_objects); `checked=False` skips
    openapi-core's check of the document itself (Identity's enrollment.yaml is not a valid document, its
    response schemas are sound)."""

    def __init__(self, relative: str, *, strict: bool = False, checked: bool = True):
        self.name = relative
        self.document = read_document(spec_file(relative))
        validated = copy.deepcopy(self.document)
        if strict:
            close_objects(validated)
        config = Config(extra_media_type_deserializers=_MEDIA)
        if not checked:
            config = Config(spec_validator_cls=None, extra_media_type_deserializers=_MEDIA)
        self.openapi = OpenAPI.from_dict(validated, config=config)

    def operations(self) -> list[Operation]:
        return [
            Operation(method.upper(), path, operation)
            for path, item in self.document.get("paths", {}).items()
            for method, operation in item.items()
            if method in METHODS
        ]

    def operation(self, method: str, path: str) -> Operation | None:
        return next((op for op in self.operations() if op.matches(method, path)), None)

    def validate(
        self, response: httpx.Response, *, path: str | None = None, status: int | None = None, base_path: str = ""
    ) -> None:
        """Raises openapi-core's error unless the response is one the operation documents. `path` replaces the
        request's path; `base_path` is cut off it (the implementation's URL prefix); `status` checks the body as
        that status's (an answer the service gives on purpose under another status)."""
        sent = response.request
        request_path = path or sent.url.path
        if base_path and request_path.startswith(base_path):
            request_path = request_path[len(base_path) :] or "/"
        request = MockRequest(
            host_url=f"{sent.url.scheme}://{sent.url.netloc.decode()}",
            method=sent.method.lower(),
            path=request_path,
            args=dict(sent.url.params),
            headers=dict(sent.headers),
            data=sent.content,
            content_type=sent.headers.get("content-type", "application/json"),
        )
        answer = MockResponse(
            response.content,
            status or response.status_code,
            headers=dict(response.headers),
            content_type=response.headers.get("content-type", ""),
        )
        self.openapi.validate_response(request, answer)

    def problems(self, response: httpx.Response, **options: Any) -> list[str]:
        """Empty when the response conforms; else each way it differs, in words."""
        try:
            self.validate(response, **options)
        except Exception as exc:  # noqa: BLE001 - every openapi-core error is a finding to report
            return describe(exc)
        return []


@cache
def load(relative: str, *, strict: bool = False, checked: bool = True) -> Spec:
    return Spec(relative, strict=strict, checked=checked)


def describe(exc: BaseException) -> list[str]:
    """An openapi-core error in words: each schema violation with where it is in the body (the same violation
    in every item of a list once, with `*` for the index)."""
    details: dict[tuple, str] = {}
    cause: BaseException | None = exc
    last = exc
    part = "(the body)"
    while cause is not None:
        if type(cause).__name__ == "InvalidHeader":
            part = f"header {cause.name}"
        for error in getattr(cause, "schema_errors", None) or ():
            for leaf in _leaves(error):
                where = "/".join(str(p) for p in leaf.absolute_path) or part
                general = re.sub(r"/\d+(?=/|$)", "/*", where)
                same = leaf.message if general == where else str(leaf.validator_value)  # list items: once
                key = (general, leaf.validator, same)
                details.setdefault(key, f"{where}: {_shorten(leaf.message)}")
        last = cause
        cause = cause.__cause__
    if details:
        return list(details.values())
    text = str(last)
    if text.startswith("Unknown response http status"):
        return [f"status {text.rsplit(':', 1)[-1].strip()} is not documented for this operation"]
    return [_shorten(text.split(": ", 1)[-1] if text.startswith(type(last).__name__) else text)]


def _leaves(error: Any) -> list[Any]:
    """The violations that explain an error: for oneOf/anyOf, those of its alternatives."""
    if not error.context:
        return [error]
    return [leaf for sub in error.context for leaf in _leaves(sub)]


def _shorten(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[:limit] + "…"
