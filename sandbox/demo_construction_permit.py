"""`sandbox demo construction-permit`: the whole permit journey over HTTP against a running sandbox.

The architect applies for an apartment building on Grace Mwangi's parcel; Grace consents; the permit
officer asks for a document, proposes a field visit and approves; the architect pays the fee at the
simulated bank (P2G: inquiry and payment through the hub, mark-bill-paid back to the municipality); civil
protection and utilities clear it; the mayor signs; the permit is verified. Refusals are shown on the way.
Exits non-zero on any failure.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
import httpx

from services.common import demo_world

from . import demo_http
from .demo_http import DemoFailed, Progress, ok, wait

COOKIE = "permit_session"
PARCEL = "SBX-0101-0042"
BANK_PIN = "2468"


def _person(role: str) -> dict:
    return demo_world.with_role(role)[0]


def _pdf(title: str) -> bytes:
    return f"%PDF-1.4\n% {title}, sandbox demo document\n%%EOF\n".encode()


def _login(base: str, role: str, otp: str) -> httpx.Client:
    return demo_http.login(base, _person(role)["vid"], otp, COOKIE)


def _act(client: httpx.Client, application_id: str, action: str, body: dict | None = None) -> dict:
    return ok(client.post(f"/api/v1/applications/{application_id}/actions/{action}", json=body or {}))


def pay_at_bank(payments_url: str, payer: dict, bill_id: str) -> str:
    """The payer logs in at the simulated bank's pages and looks the bill up; pays it when it is payable.
    Returns the last page."""
    bank = httpx.Client(base_url=payments_url, timeout=30, follow_redirects=True)

    def post(path: str, page: str, **fields: str) -> str:
        csrf = re.search(r'name="csrf" value="([^"]+)"', page)
        if not csrf:
            raise DemoFailed("the bank page has no CSRF token")
        response = bank.post(path, data={"csrf": csrf.group(1), **fields})
        if response.status_code != 200:
            raise DemoFailed(f"the bank answered {response.status_code} on {path}")
        return response.text

    home = post("/bank/login", bank.get("/bank/").text, login=payer["phone_number"], pin=BANK_PIN, billId=bill_id)
    if 'name="inquiryRequestId"' not in home:
        return home
    fields = {n: demo_http._hidden(home, n) for n in ("billId", "inquiryRequestId", "requestId")}
    return post("/bank/pay", home, **fields)


def run_journey(base: str, payments_url: str, say: Progress, otp: str, timeout: float = 60) -> dict:
    architect, owner, contractor = _person("architect"), _person("property_owner"), _person("contractor")
    applicant = _login(base, "architect", otp)
    say(f"{architect['name']} (architect) logs in (OIDC, VID + OTP)", "ok", None)
    parcel = ok(applicant.get(f"/api/v1/parcels/{PARCEL}"))
    say(f"parcel {PARCEL} from the land registry", f"{parcel['areaM2']} m², {parcel['zoning']}", None)

    plan = {
        "parcelId": PARCEL,
        "buildingType": "apartment_building",
        "floorAreaM2": 420,
        "description": "Four flats over three storeys",
        "owner": {"vid": owner["vid"], "name": owner["name"]},
        "architect": {"vid": architect["vid"], "name": architect["name"]},
        "contractor": {"vid": contractor["vid"], "name": contractor["name"]},
    }
    wrong = applicant.post("/api/v1/applications", json=plan | {"owner": {"vid": owner["vid"], "name": "Someone Else"}})
    ok(wrong, 422)
    say("an owner's name that Identity does not confirm is refused", "refused (422)", wrong.headers.get("x-road-id"))
    started = ok(applicant.post("/api/v1/applications", json=plan))
    application = started["application"]
    app_id = application["id"]
    say(
        f"start {app_id}: owner, architect and contractor checked with Identity; owner's consent asked",
        application["consentStatus"],
        started["messageId"],
    )

    for kind in ("site_plan", "detailed_plans", "cost_estimate"):
        ok(
            applicant.post(
                f"/api/v1/applications/{app_id}/documents",
                data={"kind": kind},
                files={"file": (f"{kind}.pdf", _pdf(kind), "application/pdf")},
            ),
            201,
        )
    text = applicant.post(
        f"/api/v1/applications/{app_id}/documents",
        data={"kind": "property_title"},
        files={"file": ("title.txt", b"not a pdf", "text/plain")},
    )
    ok(text, 415)
    say("upload site plan, plans 1:50, cost estimate (SHA-256 kept); a text file is refused", "refused (415)", None)
    early = applicant.post(f"/api/v1/applications/{app_id}/actions/submit")
    ok(early, 422)
    say("submit without the title and the owner's consent", "refused (422)", None)
    ok(
        applicant.post(
            f"/api/v1/applications/{app_id}/documents",
            data={"kind": "property_title"},
            files={"file": ("title.pdf", _pdf("property title"), "application/pdf")},
        ),
        201,
    )

    owner_client = _login(base, "property_owner", otp)
    mine = ok(owner_client.get("/api/v1/applications"))
    if app_id not in [a["id"] for a in mine["applications"]]:
        raise DemoFailed("the owner does not see the application naming them")
    say(f"{owner['name']} (owner) logs in and finds the application (Identity: her VID's e-mail matches)", "ok", None)
    consented = ok(owner_client.put(f"/api/v1/applications/{app_id}/consent", json={"decision": "give"}))
    say(
        "the owner gives signed consent (Consent BB)", consented["application"]["consentStatus"], consented["messageId"]
    )

    submitted = _act(applicant, app_id, "submit")
    say(
        "the architect submits (consent verified at Consent)", submitted["application"]["state"], submitted["messageId"]
    )
    forbidden = applicant.post(f"/api/v1/applications/{app_id}/actions/approve_in_principle")
    ok(forbidden, 403)
    say("the applicant may not approve", "refused (403)", None)

    officer = _login(base, "permit_officer", otp)
    asked = _act(officer, app_id, "request_documents", {"note": "Cost estimate must include the foundations"})
    say("the permit officer asks for a revised cost estimate", asked["application"]["state"], asked["messageId"])
    ok(
        applicant.post(
            f"/api/v1/applications/{app_id}/documents",
            data={"kind": "cost_estimate"},
            files={"file": ("cost-v2.pdf", _pdf("cost estimate v2"), "application/pdf")},
        ),
        201,
    )
    resubmitted = _act(applicant, app_id, "submit")
    say("the architect uploads it and submits again", resubmitted["application"]["state"], resubmitted["messageId"])
    soon = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    slots = [(soon + timedelta(days=d, hours=h)).isoformat() for d, h in ((2, 9), (3, 14))]
    proposed = _act(officer, app_id, "propose_visit", {"slots": slots})
    chosen = _act(applicant, app_id, "choose_visit_slot", {"slot": proposed["application"]["visitSlots"][1]})
    say("officer proposes field-visit slots, the architect chooses one", chosen["application"]["visitAt"], None)
    _act(officer, app_id, "record_visit", {"report": "Site matches the plans; access for fire engines is fine"})
    approved = _act(officer, app_id, "approve_in_principle", {"note": "Conforms to zoning"})
    bill_id, fee = approved["application"]["billId"], approved["application"]["fee"]
    say(
        f"visit recorded; approved in principle: fee {fee} USD, bill {bill_id}",
        approved["application"]["state"],
        approved["messageId"],
    )

    say.doing(f"the architect pays {bill_id} at the bank (Payments' pages; inquiry and payment through the P2G hub)")
    paid_page = pay_at_bank(payments_url, architect, bill_id)
    if "paid" not in paid_page.lower():
        raise DemoFailed("the bank did not confirm the payment")
    say(f"the architect pays {bill_id} at the bank (inquiry and payment through the P2G hub)", "paid", None)

    def cleared() -> dict | None:
        current = ok(applicant.get(f"/api/v1/applications/{app_id}"))["application"]
        return current if current["state"] != "awaiting_payment" else None

    say.doing("Payments marks the bill paid (Payments -> the use case)")
    moved = wait("Payments' mark-bill-paid", cleared, timeout)
    say("Payments marks the bill paid; clearances start", moved["state"], None)
    again = pay_at_bank(payments_url, architect, bill_id)
    if "already paid" not in again.lower():
        raise DemoFailed("paying the bill twice was not refused")
    say("paying the same bill again", "refused (already paid)", None)

    for role in ("civil_protection_officer", "utilities_officer"):
        authority = _login(base, role, otp)
        granted = _act(authority, app_id, "grant_clearance", {"note": "No objection"})
        say(
            f"{_person(role)['name']} ({role.replace('_', ' ')}) grants clearance",
            granted["application"]["state"],
            granted["messageId"],
        )
    mayor = _login(base, "mayor", otp)
    signed = _act(mayor, app_id, "sign")
    issued = signed["application"]["permit"]
    say(
        f"{_person('mayor')['name']} (mayor) signs: permit {issued['number']}",
        signed["application"]["state"],
        signed["messageId"],
    )

    pdf = applicant.get(issued["pdf"])
    if pdf.status_code != 200 or not pdf.content.startswith(b"%PDF"):
        raise DemoFailed("the permit PDF is not available")
    say("the architect downloads the permit PDF", f"{len(pdf.content)} bytes", None)
    public = httpx.Client(base_url=base, timeout=20)
    valid = ok(public.get(f"/api/v1/permits/{issued['number']}", params={"code": issued["verificationCode"]}))
    forged = ok(public.get(f"/api/v1/permits/{issued['number']}", params={"code": "AAAA-BBBB-CCCC-DDDD"}))
    if not valid["valid"] or forged["valid"]:
        raise DemoFailed("permit verification gave the wrong answer")
    say("public verification: the real code verifies, a forged one does not", "valid / invalid", None)

    def told() -> list | None:
        rows = ok(owner_client.get("/api/v1/notifications"))["notifications"]
        return rows if any(issued["number"] in n["text"] for n in rows) else None

    news = wait("the notification of the issued permit (IM pub/sub)", told, timeout)
    say("the owner's notifications (IM pub/sub room)", f"{len(news)} received", None)
    return {
        "application": app_id,
        "fee": f"{fee} USD",
        "permit": issued["number"],
        "verification code": issued["verificationCode"],
    }


@click.command("construction-permit")
@click.option("--data-dir", type=click.Path(path_type=Path), default=Path("var"), show_default=True)
@click.option("--url", default=None, help="The construction-permit use case's URL (default: from the running sandbox).")
@click.option(
    "--payments-url", default=None, help="The Payments BB's URL, for its bank pages (default: from the sandbox)."
)
@click.option("--otp", default=None, help="The sandbox OTP (default: the demo world's).")
@click.option("--timeout", default=60.0, show_default=True, help="Seconds to wait for each callback.")
def construction_permit(
    data_dir: Path, url: str | None, payments_url: str | None, otp: str | None, timeout: float
) -> None:
    """Run the construction-permit journey end to end."""
    base = demo_http.base_url(data_dir, url, "construction_permit")
    payments = demo_http.base_url(data_dir, payments_url, "payments")
    demo_http.run_demo(
        "Construction permit",
        lambda say: run_journey(base, payments, say, otp or demo_world.sandbox_otp(), timeout),
        trace=demo_http.trace_page(data_dir),
        data_dir=None if url else data_dir,
    )
