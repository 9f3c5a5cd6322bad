"""Contract checking against the GovStack OpenAPI files with openapi-core: every answer of a call made through
`Contract.call` is validated against the spec file's response for its operation and status (an undocumented
status fails), and the operations exercised are recorded so a test can show it covered the whole file."""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import yaml
from openapi_core import OpenAPI
from openapi_core.testing import MockRequest, MockResponse

REPOSITORY = Path(__file__).resolve().parents[3]
GOVSTACK_PAYMENTS = REPOSITORY.parent / "shared" / "govstack" / "payments"
V1_FILES = GOVSTACK_PAYMENTS / "spec" / ".gitbook" / "assets"
P2G_FILES = GOVSTACK_PAYMENTS / "api" / "P2G API YAMLs"
HOST = "http://testserver"
METHODS = ("get", "put", "post", "patch", "delete")


def read_spec(path: Path) -> dict:
    """The spec file as a dict with our test host as its only server; skips the test if the file is absent."""
    if not path.exists():
        pytest.skip(f"GovStack spec file not found: {path} (the specs live beside the checkout, ../shared/govstack)")
    spec = json.loads(path.read_text()) if path.suffix == ".json" else yaml.safe_load(path.read_text())
    spec = json.loads(json.dumps(spec))  # YAML's integer status keys (`200:`) become the strings OpenAPI means
    spec["servers"] = [{"url": HOST}]
    return spec


class Contract:
    def __init__(self, client: httpx.Client, path: Path):
        self.client = client
        self.name = path.name
        self.spec = read_spec(path)
        self.openapi = OpenAPI.from_dict(self.spec)
        self.covered: set[tuple[str, str, int]] = set()

    def operations(self) -> set[tuple[str, str]]:
        return {(m.upper(), p) for p, ops in self.spec["paths"].items() for m in ops if m in METHODS}

    def _template(self, method: str, path: str) -> str:
        for m, template in self.operations():
            pattern = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template))
            if m == method and re.fullmatch(pattern, path):
                return template
        raise AssertionError(f"{method} {path} is not an operation of {self.name}")

    def call(self, method: str, target: str, expect: int, **kwargs: object) -> httpx.Response:
        """Sends the request, checks the status we expect, validates the answer against the file."""
        path = urlsplit(target).path
        template = self._template(method.upper(), path)
        response = self.client.request(method, target, **kwargs)
        assert response.status_code == expect, f"{method} {target}: {response.status_code} {response.text}"
        request = MockRequest(HOST, method.lower(), path, headers=dict(kwargs.get("headers") or {}))
        answer = MockResponse(
            response.content,
            status_code=response.status_code,
            headers=dict(response.headers),
            content_type=response.headers.get("content-type", "application/json").split(";")[0],
        )
        self.openapi.validate_response(request, answer)  # raises with the schema violation
        self.covered.add((method.upper(), template, response.status_code))
        return response

    def assert_every_operation_covered(self) -> None:
        missing = self.operations() - {(m, p) for m, p, _ in self.covered}
        assert not missing, f"{self.name}: operations never exercised: {sorted(missing)}"
