"""What the `sandbox demo ...` commands share: logging a persona in through the real OIDC flow (VID + OTP
on the Identity BB's pages), checked HTTP answers, waiting for callbacks, and the progress/summary output."""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlencode, urljoin

import click
import httpx
from rich.console import Console
from rich.table import Table

from . import topology


class DemoFailed(Exception):
    pass


def _hidden(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    if not match:
        raise DemoFailed(f"the page has no {name} field")
    return match.group(1)


def login(base_url: str, vid: str, otp: str, cookie: str, timeout: float = 20) -> httpx.Client:
    """A client logged in to the use case as the resident with this VID, through the OIDC code flow."""
    http = httpx.Client(base_url=base_url, timeout=timeout, follow_redirects=False)
    to_identity = http.get("/login")
    authorize = http.get(to_identity.headers["location"])
    if authorize.status_code != 200:
        raise DemoFailed(f"/authorize answered {authorize.status_code}: {authorize.text[:200]}")
    identity = str(authorize.url).split("/authorize")[0]
    form = {
        "transaction_id": _hidden(authorize.text, "transaction_id"),
        "xsrf": _hidden(authorize.text, "xsrf"),
        "individual_id": vid,
    }
    sent = http.post(identity + "/authorize/send-otp", data=form)
    if sent.status_code != 200:
        raise DemoFailed(f"send-otp answered {sent.status_code}")
    authenticated = http.post(identity + "/authorize/authenticate", data=form | {"factor": "OTP", "challenge": otp})
    if authenticated.status_code != 200 or "decision" not in authenticated.text:
        raise DemoFailed(f"authentication failed ({authenticated.status_code})")
    claims = re.findall(r'name="claims" value="([^"]+)"', authenticated.text)
    consented = http.post(
        identity + "/authorize/consent",
        data={"transaction_id": form["transaction_id"], "xsrf": form["xsrf"], "decision": "allow", "claims": claims},
    )
    location = consented.headers.get("location", "")
    if "code=" not in location:
        raise DemoFailed(f"no authorization code: {consented.status_code} {location[:200]}")
    finished = http.get(urljoin(base_url, location) if location.startswith("/") else location)
    if "login_error" in finished.headers.get("location", "") or cookie not in http.cookies:
        raise DemoFailed(f"the use case refused the login: {finished.headers.get('location')}")
    return http


def ok(response: httpx.Response, *expected: int) -> dict:
    if response.status_code not in (expected or (200, 201)):
        raise DemoFailed(
            f"{response.request.method} {response.request.url.path} -> {response.status_code} {response.text[:300]}"
        )
    return response.json()


def wait(what: str, check: Callable[[], object], timeout: float) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.3)
    raise DemoFailed(f"timed out waiting for {what}")


# The demos' option that gives a process's URL (the use case's own is --url).
URL_OPTIONS = {"payments": "--payments-url"}


def base_url(data_dir: Path, url: str | None, process: str) -> str:
    """The process's URL: given, else from the running sandbox (a block `--replace`d there: its replacement)."""
    if url:
        return url.rstrip("/")
    state = data_dir / "sandbox.json"
    if not state.exists():
        option = URL_OPTIONS.get(process, "--url")
        raise click.ClickException(f"no running sandbox in {data_dir} (start it with `sandbox up`) or pass {option}")
    known = json.loads(state.read_text())
    replaced = known.get("replaced") or {}
    return (replaced.get(process) or known["processes"][process]["url"]).rstrip("/")


class Trace:
    """The running sandbox's IM trace (viewer token), to say which exchanges a failing step made."""

    def __init__(self, data_dir: Path):
        state = json.loads((data_dir / "sandbox.json").read_text())
        self.im = state["processes"]["information_mediator"]["url"].rstrip("/")
        self.replaced = state.get("replaced") or {}
        self.headers = {"Authorization": "Bearer " + (data_dir / "secrets" / "im-viewer-token").read_text().strip()}

    @classmethod
    def of(cls, data_dir: Path) -> Trace | None:
        try:
            return cls(data_dir)
        except (OSError, ValueError, KeyError):
            return None

    def exchanges(self, after: int | None = None) -> list[dict]:
        params = {"kind": "rest", "limit": 200} | ({} if after is None else {"afterId": after})
        try:
            response = httpx.get(self.im + "/api/v1/trace", params=params, headers=self.headers, timeout=10)
            return response.json()["exchanges"] if response.status_code == 200 else []
        except (httpx.HTTPError, ValueError, KeyError):
            return []

    def latest(self) -> int | None:
        newest = self.exchanges()
        return newest[0]["id"] if newest else None

    def describe(self, exchange: dict) -> str:
        """`USCT -> PAYMENTS/mapper POST /register-beneficiary: 500 (replaced block)`."""
        client = exchange["client"].split("/", 2)[-1]
        service = exchange["service"].split("/", 2)[-1]
        failed = exchange["status"] is None or exchange["status"] >= 400 or exchange["errorType"]
        replaced = next((url for target, url in self.replaced.items() if _of_block(exchange["service"], target)), None)
        return (
            ("✘ " if failed else "  ")
            + f"{client} -> {service} {exchange['method']} {exchange['path']}: {exchange['status']}"
            + (f" {exchange['errorType']}" if exchange["errorType"] else "")
            + (f"  [replaced by {replaced}]" if replaced else "")
        )


def _of_block(service_id: str, target: str) -> bool:
    """Whether an IM service id (INSTANCE/CLASS/MEMBER/APPLICATION/SERVICE) is a `--replace` target's."""
    block, _, service = target.partition("/")
    application = topology.load().application_of(block)
    prefix = application.client_id(service_id.split("/")[0]) + "/" if application else "?"
    return service_id.startswith(prefix) and service in ("", service_id.removeprefix(prefix))


class Progress:
    """What a journey reports: `say(step, outcome, message_id)` once a step passed, `say.doing(step)` before a
    step worth naming should it fail. Marks the IM trace at each step, to show a failing step's exchanges."""

    def __init__(self, console: Console, trace: Trace | None):
        self.console = console
        self.trace = trace
        self.steps: list[tuple[str, str, str | None]] = []
        self.current: str | None = None
        self.mark = trace.latest() if trace else None

    def __call__(self, step: str, outcome: str, message_id: str | None) -> None:
        self.steps.append((step, outcome, message_id))
        self.current = None
        self.console.print(
            f"[green]✔[/] [{len(self.steps):2d}] {step}: [bold]{outcome}[/]"
            + (f"  [dim]IM message {message_id}[/]" if message_id else "")
        )
        if self.trace:
            self.mark = self.trace.latest() or self.mark

    def doing(self, step: str) -> None:
        self.current = step

    def report_failure(self, exc: Exception) -> None:
        """Names the failing step and its call, then the exchanges it made through the IM (✘: failed)."""
        after = f"the step after “{self.steps[-1][0]}”" if self.steps else "the first step"
        self.console.print(
            f"[red]✘ step {len(self.steps) + 1} failed:[/] [bold]{self.current or after}[/]\n"
            f"  {type(exc).__name__}: {exc}",
            soft_wrap=True,
        )
        exchanges = self.trace.exchanges(self.mark) if self.trace else []
        if exchanges:
            self.console.print("  Its exchanges through the IM (oldest first):", soft_wrap=True)
            for exchange in reversed(exchanges):
                self.console.print("    " + self.trace.describe(exchange), soft_wrap=True, markup=False)


def trace_page(data_dir: Path) -> str:
    """The running sandbox's IM trace page with the viewer token `sandbox up` generated, or its bare path."""
    state, token = data_dir / "sandbox.json", data_dir / "secrets" / "im-viewer-token"
    if not (state.exists() and token.exists()):
        return "/ui/trace?token=<var/secrets/im-viewer-token>"
    im = json.loads(state.read_text())["processes"]["information_mediator"]["url"].rstrip("/")
    return f"{im}/ui/trace?{urlencode({'token': token.read_text().strip()})}"


def run_demo(title: str, journey: Callable[[Progress], dict], trace: str, data_dir: Path | None = None) -> None:
    """Runs `journey(say)` with a progress line per step, then a summary table; exits 1 on any failure, naming
    the failing step, its call and (with the sandbox's `data_dir`) its exchanges through the IM.
    `trace` is the IM's trace page (see `trace_page`)."""
    console = Console(width=None if sys.stdout.isatty() else 150)
    say = Progress(console, Trace.of(data_dir) if data_dir else None)
    try:
        with console.status(f"running the {title.lower()} journey…"):
            summary = journey(say)
    except (DemoFailed, httpx.HTTPError, KeyError, StopIteration, ValueError) as exc:
        say.report_failure(exc)
        sys.exit(1)
    steps = say.steps
    table = Table(title=f"{title}: summary")
    for column in ("#", "step", "outcome", "IM message id"):
        table.add_column(column)
    for number, (step, outcome, message_id) in enumerate(steps, 1):
        table.add_row(str(number), step, outcome, message_id or "")
    console.print(table)
    console.print("  ".join(f"{k}: [bold]{v}[/]" for k, v in summary.items()))
    console.print(f"{len(steps)} steps passed. Trace any message id at the IM: {trace}&messageId=<id>", soft_wrap=True)
