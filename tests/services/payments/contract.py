"""Contract checking against the GovStack OpenAPI files shipped with the conformance kit (sandbox/check/specs/,
helper sandbox/check/openapi.py): every answer of a call made through `Contract.call` is validated against the
spec file's response for its operation and status (an undocumented status fails), and the operations exercised
are recorded so a test can show it covered the whole file."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import httpx

from sandbox.check.openapi import SPECS, load

V1_FILES = SPECS / "payments"
P2G_FILES = SPECS / "payments" / "p2g"


class Contract:
    def __init__(self, client: httpx.Client, path: Path):
        self.client = client
        self.name = path.name
        self.spec = load(str(path.relative_to(SPECS)))
        self.covered: set[tuple[str, str, int]] = set()

    def operations(self) -> set[tuple[str, str]]:
        return {(op.method, op.path) for op in self.spec.operations()}

    def call(self, method: str, target: str, expect: int, **kwargs: object) -> httpx.Response:
        """Sends the request, checks the status we expect, validates the answer against the file."""
        operation = self.spec.operation(method, urlsplit(target).path)
        assert operation, f"{method} {target} is not an operation of {self.name}"
        response = self.client.request(method, target, **kwargs)
        assert response.status_code == expect, f"{method} {target}: {response.status_code} {response.text}"
        self.spec.validate(response)  # raises with the schema violation
        self.covered.add((operation.method, operation.path, response.status_code))
        return response

    def assert_every_operation_covered(self) -> None:
        missing = self.operations() - {(m, p) for m, p, _ in self.covered}
        assert not missing, f"{self.name}: operations never exercised: {sorted(missing)}"
