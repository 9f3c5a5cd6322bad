"""`sandbox demo cash-transfer`: the whole USCT journey over HTTP against a running sandbox.

Logs in through the real OIDC flow (VID + OTP on the Identity BB's pages), runs every step, prints each
step's IM message id, ends with a summary table, and exits non-zero on any failure.
"""
from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urljoin

import click
import httpx
from rich.console import Console
from rich.table import Table

from services.common import demo_world

ENROLLMENT_OFFICER_VID = "9038952310"
PAYMENT_OFFICER_VID = "2405176278"


class DemoFailed(Exception):
    pass


def _hidden(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    if not match:
        raise DemoFailed(f"the Identity login page has no {name} field")
    return match.group(1)


def login(base_url: str, vid: str, otp: str, timeout: float = 20) -> httpx.Client:
    """A client logged in to the use case as the resident with this VID, through the OIDC code flow."""
    http = httpx.Client(base_url=base_url, timeout=timeout, follow_redirects=False)
    to_identity = http.get("/login")
    authorize = http.get(to_identity.headers["location"])
    if authorize.status_code != 200:
        raise DemoFailed(f"/authorize answered {authorize.status_code}: {authorize.text[:200]}")
    identity = str(authorize.url).split("/authorize")[0]
    form = {"transaction_id": _hidden(authorize.text, "transaction_id"), "xsrf": _hidden(authorize.text, "xsrf"),
            "individual_id": vid}
    sent = http.post(identity + "/authorize/send-otp", data=form)
    if sent.status_code != 200:
        raise DemoFailed(f"send-otp answered {sent.status_code}")
    authenticated = http.post(identity + "/authorize/authenticate", data=form | {"factor": "OTP", "challenge": otp})
    if authenticated.status_code != 200 or "decision" not in authenticated.text:
        raise DemoFailed(f"authentication failed ({authenticated.status_code})")
    claims = re.findall(r'name="claims" value="([^"]+)"', authenticated.text)
    consented = http.post(identity + "/authorize/consent",
                          data={"transaction_id": form["transaction_id"], "xsrf": form["xsrf"], "decision": "allow",
                                "claims": claims})
    location = consented.headers.get("location", "")
    if "code=" not in location:
        raise DemoFailed(f"no authorization code: {consented.status_code} {location[:200]}")
    finished = http.get(urljoin(base_url, location) if location.startswith("/") else location)
    if "login_error" in finished.headers.get("location", "") or "usct_session" not in http.cookies:
        raise DemoFailed(f"the use case refused the login: {finished.headers.get('location')}")
    return http


def _ok(response: httpx.Response, *expected: int) -> dict:
    if response.status_code not in (expected or (200, 201)):
        raise DemoFailed(f"{response.request.method} {response.request.url.path} -> {response.status_code} {response.text[:300]}")
    return response.json()


def _wait(what: str, check: Callable[[], object], timeout: float) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.3)
    raise DemoFailed(f"timed out waiting for {what}")


def _vid_of(name: str) -> str:
    return next(r["vid"] for r in demo_world.residents() if r["name"] == name)


def run_journey(base_url: str, say: Callable[[str, str, str | None], None], otp: str, timeout: float = 60) -> dict:
    """Runs the journey; `say(step, outcome, message_id)` reports each step. Returns the summary."""
    officer = login(base_url, ENROLLMENT_OFFICER_VID, otp)
    say("enrollment officer logs in (OIDC, VID + OTP)", "ok", None)
    listing = _ok(officer.get("/api/v1/candidates"))
    say(f"list {len(listing['candidates'])} candidates, live consent in one bulk call", "ok", listing["messageId"])
    free = [c for c in listing["candidates"] if not c["enrolled"] and c["consentStatus"] != "given"]
    if len(free) < 2:
        raise DemoFailed("fewer than two candidates left to enroll: reset the sandbox (sandbox reset)")
    candidate, other = free[0], free[1]

    refused = officer.post("/api/v1/beneficiaries", json={"candidateId": other["id"], "packageId": "pkg-basic"})
    _ok(refused, 409)
    say(f"enrolling {other['name']} without consent is refused", "refused (409)", None)

    asked = _ok(officer.post("/api/v1/consent", json={"candidateId": candidate["id"]}))
    say(f"request consent from {candidate['name']}", asked["candidate"]["consentStatus"], asked["messageId"])

    resident = login(base_url, _vid_of(candidate["name"]), otp)
    say(f"{candidate['name']} logs in", "ok", None)
    agreement = _ok(resident.get("/api/v1/consent"))
    say("beneficiary reads the data agreement", agreement["dataAgreement"].get("purpose", "ok")[:40], agreement["messageId"])
    given = _ok(resident.put("/api/v1/consent", json={"decision": "give"}))
    say("beneficiary gives signed consent", given["candidate"]["consentStatus"], given["messageId"])

    payer = login(base_url, PAYMENT_OFFICER_VID, otp)
    say("payment officer logs in", "ok", None)
    wrong = payer.post("/api/v1/beneficiaries", json={"candidateId": candidate["id"], "packageId": "pkg-basic"})
    _ok(wrong, 403)
    say("payment officer may not enroll", "refused (403)", None)

    enrolled = _ok(officer.post("/api/v1/beneficiaries", json={"candidateId": candidate["id"], "packageId": "pkg-basic"}))
    beneficiary_id = enrolled["beneficiary"]["id"]
    say("enroll into Basic support; register in the account mapper", enrolled["beneficiary"]["onboardingStatus"],
        enrolled["messageId"])

    def onboarding() -> str | None:
        rows = _ok(officer.get("/api/v1/beneficiaries"))["beneficiaries"]
        status = next(b["onboardingStatus"] for b in rows if b["id"] == beneficiary_id)
        return status if status != "pending" else None

    onboarded = _wait("the account mapper's callback", onboarding, timeout)
    if onboarded != "onboarded":
        raise DemoFailed(f"payment onboarding {onboarded}")
    say("account mapper callback: onboarded", onboarded, None)

    ordered = _ok(payer.post("/api/v1/payment/order-payment", json={"beneficiaryIds": [beneficiary_id]}))
    order = ordered["paymentOrders"][0]
    say("pre-payment validation, then bulk payment", order["status"], ordered["messageId"])

    def paid() -> dict | None:
        rows = _ok(payer.get("/api/v1/payment/payment-orders"))["paymentOrders"]
        row = next(o for o in rows if o["id"] == order["id"])
        return row if row["status"] in ("paid", "failed") else None

    final = _wait("the bulk payment callback", paid, timeout)
    if final["status"] != "paid":
        raise DemoFailed(f"payment {final['status']}: {final['reason']}")
    say(f"payment callback: {final['amount']} {final['currency']}", "paid", None)

    mine = _ok(resident.get("/api/v1/beneficiaries/me"))
    say("beneficiary sees the payment", mine["payments"][-1]["status"], None)

    withdrawn = _ok(resident.put("/api/v1/consent", json={"decision": "withdraw"}))
    say("beneficiary withdraws consent", withdrawn["candidate"]["consentStatus"], withdrawn["messageId"])
    seen = _ok(officer.get("/api/v1/beneficiaries"))
    status = next(b["consentStatus"] for b in seen["beneficiaries"] if b["id"] == beneficiary_id)
    if status != "withdrawn":
        raise DemoFailed(f"officers see consent {status}, expected withdrawn")
    say("officers see the withdrawal", status, seen["messageId"])
    blocked = payer.post("/api/v1/payment/order-payment", json={"beneficiaryIds": [beneficiary_id]})
    _ok(blocked, 409)
    say("a new payment order is refused", "refused (409)", blocked.headers.get("x-road-id"))
    return {"beneficiary": candidate["name"], "package": enrolled["beneficiary"]["package"]["name"],
            "amount": f"{final['amount']} {final['currency']}", "payment": final["status"],
            "consent": status}


def _base_url(data_dir: Path, url: str | None) -> str:
    if url:
        return url.rstrip("/")
    state = data_dir / "sandbox.json"
    if not state.exists():
        raise click.ClickException(f"no running sandbox in {data_dir} (start it with `sandbox up`) or pass --url")
    return json.loads(state.read_text())["processes"]["cash_transfer"]["url"].rstrip("/")


@click.command("cash-transfer")
@click.option("--data-dir", type=click.Path(path_type=Path), default=Path("var"), show_default=True)
@click.option("--url", default=None, help="The cash-transfer use case's URL (default: from the running sandbox).")
@click.option("--otp", default=None, help="The sandbox OTP (default: the demo world's).")
@click.option("--timeout", default=60.0, show_default=True, help="Seconds to wait for each callback.")
def cash_transfer(data_dir: Path, url: str | None, otp: str | None, timeout: float) -> None:
    """Run the unconditional social cash transfer journey end to end."""
    console = Console(width=None if sys.stdout.isatty() else 150)
    base = _base_url(data_dir, url)
    steps: list[tuple[str, str, str | None]] = []

    def say(step: str, outcome: str, message_id: str | None) -> None:
        steps.append((step, outcome, message_id))
        console.print(f"[green]✔[/] [{len(steps):2d}] {step}: [bold]{outcome}[/]"
                      + (f"  [dim]IM message {message_id}[/]" if message_id else ""))

    try:
        with console.status("running the cash-transfer journey…"):
            summary = run_journey(base, say, otp or demo_world.sandbox_otp(), timeout)
    except (DemoFailed, httpx.HTTPError, KeyError, StopIteration) as exc:
        console.print(f"[red]✘ step {len(steps) + 1} failed:[/] {type(exc).__name__}: {exc}")
        sys.exit(1)
    table = Table(title="Cash transfer: summary")
    for column in ("#", "step", "outcome", "IM message id"):
        table.add_column(column)
    for number, (step, outcome, message_id) in enumerate(steps, 1):
        table.add_row(str(number), step, outcome, message_id or "")
    console.print(table)
    console.print("  ".join(f"{k}: [bold]{v}[/]" for k, v in summary.items()))
    console.print(f"{len(steps)} steps passed. Trace any message id at the IM: /ui/trace?messageId=<id>")


if __name__ == "__main__":
    cash_transfer()
