"""`sandbox demo cash-transfer`: the whole USCT journey over HTTP against a running sandbox.

Logs in through the real OIDC flow (VID + OTP on the Identity BB's pages), runs every step, prints each
step's IM message id, ends with a summary table, and exits non-zero on any failure.
"""

from __future__ import annotations

from pathlib import Path

import click
import httpx

from services.common import demo_world

from . import demo_http
from .demo_http import DemoFailed, Progress, ok, wait

ENROLLMENT_OFFICER_VID = "9038952310"
PAYMENT_OFFICER_VID = "2405176278"


def login(base_url: str, vid: str, otp: str) -> httpx.Client:
    return demo_http.login(base_url, vid, otp, "usct_session")


def _vid_of(name: str) -> str:
    return next(r["vid"] for r in demo_world.residents() if r["name"] == name)


def run_journey(base_url: str, say: Progress, otp: str, timeout: float = 60) -> dict:
    """Runs the journey; `say(step, outcome, message_id)` reports each step. Returns the summary."""
    officer = login(base_url, ENROLLMENT_OFFICER_VID, otp)
    say("enrollment officer logs in (OIDC, VID + OTP)", "ok", None)
    listing = ok(officer.get("/api/v1/candidates"))
    say(f"list {len(listing['candidates'])} candidates, live consent in one bulk call", "ok", listing["messageId"])
    free = [c for c in listing["candidates"] if not c["enrolled"] and c["consentStatus"] != "given"]
    if len(free) < 2:
        raise DemoFailed("fewer than two candidates left to enroll: reset the sandbox (sandbox reset)")
    candidate, other = free[0], free[1]

    refused = officer.post("/api/v1/beneficiaries", json={"candidateId": other["id"], "packageId": "pkg-basic"})
    ok(refused, 409)
    say(f"enrolling {other['name']} without consent is refused", "refused (409)", None)

    asked = ok(officer.post("/api/v1/consent", json={"candidateId": candidate["id"]}))
    say(f"request consent from {candidate['name']}", asked["candidate"]["consentStatus"], asked["messageId"])

    resident = login(base_url, _vid_of(candidate["name"]), otp)
    say(f"{candidate['name']} logs in", "ok", None)
    agreement = ok(resident.get("/api/v1/consent"))
    say(
        "beneficiary reads the data agreement",
        agreement["dataAgreement"].get("purpose", "ok")[:40],
        agreement["messageId"],
    )
    given = ok(resident.put("/api/v1/consent", json={"decision": "give"}))
    say("beneficiary gives signed consent", given["candidate"]["consentStatus"], given["messageId"])

    payer = login(base_url, PAYMENT_OFFICER_VID, otp)
    say("payment officer logs in", "ok", None)
    wrong = payer.post("/api/v1/beneficiaries", json={"candidateId": candidate["id"], "packageId": "pkg-basic"})
    ok(wrong, 403)
    say("payment officer may not enroll", "refused (403)", None)

    say.doing("enroll into Basic support; register in the account mapper (Payments)")
    enrolled = ok(
        officer.post("/api/v1/beneficiaries", json={"candidateId": candidate["id"], "packageId": "pkg-basic"})
    )
    beneficiary_id = enrolled["beneficiary"]["id"]
    say(
        "enroll into Basic support; register in the account mapper",
        enrolled["beneficiary"]["onboardingStatus"],
        enrolled["messageId"],
    )

    def onboarding() -> str | None:
        rows = ok(officer.get("/api/v1/beneficiaries"))["beneficiaries"]
        status = next(b["onboardingStatus"] for b in rows if b["id"] == beneficiary_id)
        return status if status != "pending" else None

    say.doing("account mapper callback (Payments -> the use case)")
    onboarded = wait("the account mapper's callback", onboarding, timeout)
    if onboarded != "onboarded":
        raise DemoFailed(f"payment onboarding {onboarded}")
    say("account mapper callback: onboarded", onboarded, None)

    say.doing("pre-payment validation, then bulk payment (Payments)")
    ordered = ok(payer.post("/api/v1/payment/order-payment", json={"beneficiaryIds": [beneficiary_id]}))
    order = ordered["paymentOrders"][0]
    say("pre-payment validation, then bulk payment", order["status"], ordered["messageId"])

    def paid() -> dict | None:
        rows = ok(payer.get("/api/v1/payment/payment-orders"))["paymentOrders"]
        row = next(o for o in rows if o["id"] == order["id"])
        return row if row["status"] in ("paid", "failed") else None

    say.doing("bulk payment callback (Payments -> the use case)")
    final = wait("the bulk payment callback", paid, timeout)
    if final["status"] != "paid":
        raise DemoFailed(f"payment {final['status']}: {final['reason']}")
    say(f"payment callback: {final['amount']} {final['currency']}", "paid", None)

    mine = ok(resident.get("/api/v1/beneficiaries/me"))
    say("beneficiary sees the payment", mine["payments"][-1]["status"], None)

    withdrawn = ok(resident.put("/api/v1/consent", json={"decision": "withdraw"}))
    say("beneficiary withdraws consent", withdrawn["candidate"]["consentStatus"], withdrawn["messageId"])
    seen = ok(officer.get("/api/v1/beneficiaries"))
    status = next(b["consentStatus"] for b in seen["beneficiaries"] if b["id"] == beneficiary_id)
    if status != "withdrawn":
        raise DemoFailed(f"officers see consent {status}, expected withdrawn")
    say("officers see the withdrawal", status, seen["messageId"])
    blocked = payer.post("/api/v1/payment/order-payment", json={"beneficiaryIds": [beneficiary_id]})
    ok(blocked, 409)
    say("a new payment order is refused", "refused (409)", blocked.headers.get("x-road-id"))
    return {
        "beneficiary": candidate["name"],
        "package": enrolled["beneficiary"]["package"]["name"],
        "amount": f"{final['amount']} {final['currency']}",
        "payment": final["status"],
        "consent": status,
    }


@click.command("cash-transfer")
@click.option("--data-dir", type=click.Path(path_type=Path), default=Path("var"), show_default=True)
@click.option("--url", default=None, help="The cash-transfer use case's URL (default: from the running sandbox).")
@click.option("--otp", default=None, help="The sandbox OTP (default: the demo world's).")
@click.option("--timeout", default=60.0, show_default=True, help="Seconds to wait for each callback.")
def cash_transfer(data_dir: Path, url: str | None, otp: str | None, timeout: float) -> None:
    """Run the unconditional social cash transfer journey end to end."""
    base = demo_http.base_url(data_dir, url, "cash_transfer")
    demo_http.run_demo(
        "Cash transfer",
        lambda say: run_journey(base, say, otp or demo_world.sandbox_otp(), timeout),
        trace=demo_http.trace_page(data_dir),
        data_dir=None if url else data_dir,
    )


if __name__ == "__main__":
    cash_transfer()
