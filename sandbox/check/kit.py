"""The kit's core: a `Probe` sends requests to one implementation, checks every answer against the GovStack
OpenAPI (and what the step expects of it), and records one `Result` per check; `probe_invalid_input` calls
every documented operation with input the spec does not allow; `require_coverage` fails every operation that
was not called with both valid and invalid input.
"""

from __future__ import annotations

import json
import re
import ssl
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx

from .openapi import Operation, Spec

VALID, INVALID, SCENARIO, COVERAGE = "valid input", "invalid input", "scenario", "coverage"
DEFAULT_CALLBACK_PORT = 8990  # the conformance profile allows its providers to call back there
BODY_SHOWN = 600  # characters of a request or response body in the report


@dataclass
class Result:
    block: str
    operation: str  # "POST /config/policy/" or a scenario step's name
    kind: str  # VALID, INVALID, SCENARIO or COVERAGE
    name: str  # what this check does
    passed: bool
    sent: str = ""  # method, URL and body
    status: int | None = None
    answer: str = ""  # the response body (shortened)
    problem: str = ""  # what differed, in words ("" when it passed)
    declared: list[str] = field(default_factory=list)  # differences the implementation declared (Deviation)


@dataclass(frozen=True)
class Deviation:
    """A difference from the spec that an implementation declares (`--deviations FILE`): every problem that
    `problem` (a regular expression) finds, in the operation `operation` (its key, or "*" for all), is reported
    as declared instead of failed."""

    operation: str
    problem: str
    reason: str

    def covers(self, operation: str, problem: str) -> bool:
        return self.operation in ("*", operation) and re.search(self.problem, problem) is not None


@dataclass
class Config:
    """What the kit knows about the implementation: its base URL and the credentials the checks need."""

    block: str
    url: str
    admin_token: str = ""  # Identity: the client-management token; IM: the administrator token
    callback_host: str = "127.0.0.1"  # Payments: where the implementation reaches the kit's callback server
    callback_port: int = DEFAULT_CALLBACK_PORT
    timeout: float = 30.0
    verify: bool | ssl.SSLContext = True  # TLS: verify with the system's CAs, or with this context's
    deviations: list[Deviation] = field(default_factory=list)

    @property
    def callback_url(self) -> str:
        """The kit's callback server, as the implementation reaches it."""
        return f"http://{self.callback_host}:{self.callback_port}"


class Failed(Exception):
    """A step's expectation failed; the message says how."""


Expectation = Callable[[httpx.Response], str | None]  # None when the answer is as expected, else why not


def status_in(*codes: int) -> Expectation:
    def check(response: httpx.Response) -> str | None:
        if response.status_code in codes:
            return None
        return f"expected status {' or '.join(map(str, codes))}, got {response.status_code}"

    return check


def success(response: httpx.Response) -> str | None:
    return None if 200 <= response.status_code < 300 else f"expected a success (2xx), got {response.status_code}"


def refusal(response: httpx.Response) -> str | None:
    return None if 400 <= response.status_code < 500 else f"expected a refusal (4xx), got {response.status_code}"


@dataclass
class Probe:
    config: Config
    http: httpx.Client
    report: Callable[[Result], None] = lambda result: None
    results: list[Result] = field(default_factory=list)
    covered: dict[str, set[str]] = field(default_factory=dict)  # operation key -> kinds exercised

    @property
    def base_path(self) -> str:
        return httpx.URL(self.config.url).path.rstrip("/")

    def record(self, result: Result) -> Result:
        self.results.append(result)
        self.report(result)
        return result

    def call(
        self,
        spec: Spec,
        method: str,
        path: str,
        *,
        name: str,
        kind: str = VALID,
        expect: Expectation | None = None,
        documented_as: int | None = None,
        **request: Any,
    ) -> httpx.Response:
        """Sends the request, checks the answer against `spec` and `expect` (default: success for valid input,
        refusal for invalid input), records the result; raises Failed when it did not pass (a scenario stops)."""
        operation = spec.operation(method, path)
        key = operation.key if operation else f"{method.upper()} {path}"
        url = self.config.url.rstrip("/") + path
        sent = describe_request(method, url, request)
        try:
            response = self.http.request(method, url, **request)
        except httpx.HTTPError as exc:
            self.record(Result(self.config.block, key, kind, name, False, sent, problem=f"no answer: {exc}"))
            raise Failed(f"{name}: no answer ({exc})") from exc
        expect = expect or (refusal if kind == INVALID else success)
        unexpected = expect(response)
        problems = ([unexpected] if unexpected else []) + self._conformance(spec, operation, response, documented_as)
        if operation:
            self.covered.setdefault(operation.key, set()).add(kind)
        details = {"sent": sent, "status": response.status_code, "answer": shorten(response.text)}
        self.judge(key, kind, name, problems, **details)
        return response

    def judge(self, operation: str, kind: str, name: str, problems: list[str], **details: Any) -> Result:
        """Records a check: passed unless a problem remains that the implementation did not declare (its
        `--deviations`); raises Failed if one does."""
        declared = [p for p in problems if any(d.covers(operation, p) for d in self.config.deviations)]
        left = [p for p in problems if p not in declared]
        result = self.record(
            Result(
                self.config.block,
                operation,
                kind,
                name,
                not left,
                problem="; ".join(left),
                declared=declared,
                **details,
            )
        )
        if left:
            raise Failed(f"{name}: {result.problem}")
        return result

    def _conformance(
        self, spec: Spec, operation: Operation | None, response: httpx.Response, documented_as: int | None
    ) -> list[str]:
        if operation is None:
            return [f"not an operation of {spec.name}"]
        return spec.problems(response, path=operation_path(response, self.base_path), status=documented_as)

    def step(self, operation: str, name: str, passed: bool, problem: str = "", **details: Any) -> None:
        """A scenario step that is not one HTTP call (e.g. a callback received); raises Failed if it failed."""
        self.judge(operation, SCENARIO, name, [] if passed else [problem], **details)


def operation_path(response: httpx.Response, base_path: str) -> str:
    path = response.request.url.path
    return path[len(base_path) :] or "/" if base_path and path.startswith(base_path) else path


def describe_request(method: str, url: str, request: dict) -> str:
    text = f"{method.upper()} {url}"
    params = request.get("params")
    if params:
        text += "?" + str(httpx.QueryParams(params))
    headers = request.get("headers") or {}
    shown = {k: ("***" if k.lower() in SECRET_HEADERS else v) for k, v in headers.items()}
    if shown:
        text += f"\nheaders: {json.dumps(shown)}"
    if "json" in request:
        text += f"\n{shorten(json.dumps(request['json']))}"
    elif request.get("content") is not None:
        content = request["content"]
        text += f"\n{shorten(content.decode(errors='replace') if isinstance(content, bytes) else str(content))}"
    elif request.get("data"):
        text += f"\nform: {shorten(json.dumps({k: '***' for k in request['data']}))}"
    return text


SECRET_HEADERS = {"authorization", "partner-api-key", "information-mediator-client-secret"}


def shorten(text: str, limit: int = BODY_SHOWN) -> str:
    return text if len(text) <= limit else text[:limit] + f"… ({len(text)} characters)"


def run_scenarios(probe: Probe, scenarios: Iterable[Callable[[], None]]) -> None:
    """Runs each scenario to its first failed step (recorded); an answer without what the next step needs
    (e.g. no `id` in a created object) is a failed step too. Later scenarios run regardless."""
    for scenario in scenarios:
        name = f"scenario: {scenario.__name__.replace('_', ' ')}"
        try:
            scenario()
        except Failed:
            pass
        except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
            problem = f"could not go on without {exc!r}: an earlier step failed or its answer lacked it"
            probe.record(Result(probe.config.block, name, SCENARIO, "the scenario went on", False, problem=problem))


# ---- every operation with input the spec does not allow -------------------------------------------------

MALFORMED_JSON = b'{"this is": not json'


def invalid_calls(operation: Operation, known: dict[str, str]) -> list[tuple[str, dict[str, Any]]]:
    """Requests the operation must refuse: malformed JSON for a body; else ids that name nothing; else query
    values of the wrong type. Empty when the operation takes no input to get wrong."""
    path = fill(operation.path, known)
    if "requestBody" in operation.spec:
        return [(path, {"content": MALFORMED_JSON, "headers": {"Content-Type": "application/json"}})]
    ids = re.findall(r"\{([^}]+)\}", operation.path)
    if ids:
        return [(fill(operation.path, {name: f"no-such-{uuid.uuid4().hex[:10]}" for name in ids}), {})]
    typed = [p for p in operation.spec.get("parameters", []) if p.get("in") == "query" and _numeric(p)]
    if typed:
        return [(path, {"params": {p["name"]: "not-a-number" for p in typed}})]
    return []


def _numeric(parameter: dict) -> bool:
    return (parameter.get("schema") or {}).get("type") in ("integer", "number")


def fill(template: str, values: dict[str, str]) -> str:
    return re.sub(r"\{([^}]+)\}", lambda m: values.get(m.group(1), m.group(0)), template)


def probe_invalid_input(
    probe: Probe,
    spec: Spec,
    *,
    known: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    expect: dict[str, Expectation] | None = None,
    skip: Iterable[str] = (),
) -> None:
    """Every operation of `spec` with invalid input (`invalid_calls`): refused, in the documented shape.
    `expect` replaces the refusal check per operation key; `skip` leaves operations to the block's own checks."""
    for operation in spec.operations():
        if operation.key in skip:
            continue
        for path, request in invalid_calls(operation, known or {}):
            request["headers"] = {**(headers or {}), **request.get("headers", {})}
            try:
                probe.call(
                    spec,
                    operation.method,
                    path,
                    name=f"{operation.key} with {what_is_wrong(request)}",
                    kind=INVALID,
                    expect=(expect or {}).get(operation.key),
                    **request,
                )
            except Failed:
                pass  # recorded; the next operation is independent


def what_is_wrong(request: dict) -> str:
    if "content" in request:
        return "malformed JSON"
    if "params" in request:
        return "query values of the wrong type"
    return "ids that name nothing"


def require_coverage(probe: Probe, spec: Spec) -> None:
    """One check per operation of `spec`: failed unless the run called it with valid input and with invalid
    input (the latter unless the operation takes no input to get wrong)."""
    for operation in spec.operations():
        done = probe.covered.get(operation.key, set())
        needed = {VALID, INVALID} if invalid_calls(operation, {}) else {VALID}
        missing = sorted(needed - done)
        problem = f"never called with {' or '.join(missing)}" if missing else ""
        name = "called with valid and invalid input" if INVALID in needed else "called with valid input"
        probe.record(Result(probe.config.block, operation.key, COVERAGE, name, not missing, problem=problem))
