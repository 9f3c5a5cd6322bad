"""API refusals and pages against the real stack (identity, payments, consent, IM, the use case)."""

from __future__ import annotations

import re

import httpx
import pytest

from sandbox.demo_cash_transfer import ENROLLMENT_OFFICER_VID, PAYMENT_OFFICER_VID, login
from services.common import demo_world

pytestmark = pytest.mark.e2e
OTP = demo_world.sandbox_otp()


@pytest.fixture(scope="module")
def base(stack):
    return stack.url("cash_transfer")


@pytest.fixture(scope="module")
def officer(base):
    return login(base, ENROLLMENT_OFFICER_VID, OTP)


@pytest.fixture(scope="module")
def payer(base):
    return login(base, PAYMENT_OFFICER_VID, OTP)


def _candidate(officer, index: int) -> dict:
    rows = officer.get("/api/v1/candidates").json()["candidates"]
    return [c for c in rows if not c["enrolled"] and c["consentStatus"] == "none"][index]


def test_roles_come_from_the_role_assignments(officer, payer, base):
    assert officer.get("/api/v1/roles").json()["roles"] == ["enrollment_officer"]
    assert payer.get("/api/v1/roles").json()["roles"] == ["payment_officer"]
    assert httpx.get(base + "/api/v1/roles").json() == {"authenticated": False, "roles": []}


def test_wrong_role_and_no_login_are_refused(officer, payer, base):
    assert httpx.get(base + "/api/v1/candidates").status_code == 401
    assert payer.get("/api/v1/candidates").status_code == 403
    candidate = _candidate(officer, 0)
    assert payer.post("/api/v1/consent", json={"candidateId": candidate["id"]}).status_code == 403
    assert officer.post("/api/v1/payment/order-payment", json={"beneficiaryIds": ["x"]}).status_code == 403


def test_bad_input_is_a_400_in_our_shape(officer, payer):
    response = officer.post("/api/v1/beneficiaries", json={"candidateId": ""})
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"
    assert payer.post("/api/v1/payment/order-payment", json={"beneficiaryIds": []}).status_code == 400
    unknown_package = officer.post(
        "/api/v1/beneficiaries", json={"candidateId": _candidate(officer, 0)["id"], "packageId": "nope"}
    )
    assert unknown_package.status_code == 400


def test_enrolling_without_consent_is_refused_even_after_a_request(officer):
    candidate = _candidate(officer, 1)
    assert officer.post("/api/v1/consent", json={"candidateId": candidate["id"]}).status_code == 201
    refused = officer.post("/api/v1/beneficiaries", json={"candidateId": candidate["id"], "packageId": "pkg-basic"})
    assert refused.status_code == 409 and refused.json()["error"] == "consent_required"
    rows = officer.get("/api/v1/beneficiaries").json()["beneficiaries"]
    assert candidate["id"] not in {b["candidateId"] for b in rows}


def test_paying_someone_not_enrolled_is_refused_and_orders_nothing(payer):
    before = payer.get("/api/v1/payment/payment-orders").json()["paymentOrders"]
    refused = payer.post("/api/v1/payment/order-payment", json={"beneficiaryIds": ["no-such-beneficiary"]})
    assert refused.status_code == 409
    assert refused.json()["details"] == [{"beneficiaryId": "no-such-beneficiary", "reason": "not enrolled"}]
    assert payer.get("/api/v1/payment/payment-orders").json()["paymentOrders"] == before


def test_a_refusal_by_the_resident_shows_for_the_officer(officer, base):
    candidate = _candidate(officer, 2)
    officer.post("/api/v1/consent", json={"candidateId": candidate["id"]})
    vid = next(r["vid"] for r in demo_world.residents() if r["name"] == candidate["name"])
    resident = login(base, vid, OTP)
    assert resident.get("/api/v1/roles").json()["roles"] == ["beneficiary"]
    assert (
        resident.put("/api/v1/consent", json={"decision": "refuse"}).json()["candidate"]["consentStatus"] == "refused"
    )
    rows = officer.get("/api/v1/candidates").json()["candidates"]
    assert next(c for c in rows if c["id"] == candidate["id"])["consentStatus"] == "refused"
    assert resident.get("/api/v1/candidates").status_code == 403


def test_pages_show_the_im_exchanges_an_action_caused(officer):
    page = officer.get("/officer")
    assert page.status_code == 200 and "Candidates" in page.text
    candidate = _candidate(officer, 3)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    done = officer.post("/officer/consent", data={"candidateId": candidate["id"], "csrf_token": token})
    assert done.status_code == 303
    panel = officer.get(done.headers["location"])
    assert "Behind the scenes" in panel.text
    assert "CONSENT/consent" in panel.text  # the consent record call, as the IM logged it
    mid = re.search(r"messageId=([0-9a-f-]+)", panel.text).group(1)
    trace = officer.get(f"/api/v1/trace/{mid}").json()
    assert {x["client"] for x in trace["exchanges"]} == {"SANDBOX/GOV/SOCIAL-WELFARE/USCT"}
    assert len(trace["exchanges"]) >= 2  # bulk verification + record creation


def test_payments_page_has_a_plain_title_and_one_callbacks_section(base):
    payer = login(base, "2405176278", OTP)
    page = payer.get("/payments")
    assert page.status_code == 200
    assert "<title>Payments · USCT</title>" in page.text
    assert page.text.count("Callbacks received") == 1


def test_callbacks_are_accepted_only_through_the_im_from_payments(stack, base):
    body = {"registerRequestID": "x", "failedCases": []}
    direct = httpx.post(base + "/callbacks/register-beneficiary", json=body)
    assert direct.status_code == 401
    im = (
        stack.url("information_mediator")
        + "/r1/SANDBOX/GOV/SOCIAL-WELFARE/USCT/callbacks/callbacks/register-beneficiary"
    )
    client = "SANDBOX/GOV/SOCIAL-WELFARE/USCT"  # not allowed to call this service in the topology
    refused = httpx.post(
        im,
        json=body,
        headers={"Information-Mediator-Client": client, "Information-Mediator-Client-Secret": stack.secret(client)},
    )
    assert refused.status_code in (401, 403)
    payments = "SANDBOX/GOV/PAYMENTS-AUTHORITY/PAYMENTS"
    accepted = httpx.post(
        im,
        json=body,
        headers={"Information-Mediator-Client": payments, "Information-Mediator-Client-Secret": stack.secret(payments)},
    )
    assert accepted.status_code == 200 and accepted.json() == {"received": True, "updated": 0}


def test_a_withdrawal_made_at_consent_reaches_the_officers_by_webhook(stack, officer, base):
    from sandbox.demo_http import wait as _wait

    candidate = _candidate(officer, 4)
    officer.post("/api/v1/consent", json={"candidateId": candidate["id"]})
    vid = next(r["vid"] for r in demo_world.residents() if r["name"] == candidate["name"])
    resident = login(base, vid, OTP)
    record = resident.put("/api/v1/consent", json={"decision": "give"}).json()["candidate"]["consentRecordId"]
    # The consent is withdrawn somewhere else: at the Consent BB, by its operator (a use case may withdraw it
    # only with the resident's own proof, which only the resident's login gives it).
    operator = (stack.data_dir / "consent" / "secrets" / "consent-admin-token").read_text().strip()
    uin = next(r["uin"] for r in demo_world.residents() if r["vid"] == vid)
    changed = httpx.put(
        stack.url("consent") + f"/service/individual/record/consent-record/{record}/",
        params={"individualId": uin},
        json={"consentRecord": {"optIn": False}},
        headers={"Authorization": f"Bearer {operator}"},
    )
    assert changed.status_code == 200, changed.text
    # /beneficiaries/me reads our registry only (no live check): the webhook must have updated it.
    _wait(
        "the consent webhook",
        lambda: resident.get("/api/v1/beneficiaries/me").json()["candidate"]["consentStatus"] == "withdrawn",
        20,
    )


def test_a_consent_webhook_with_a_bad_signature_is_refused(stack):
    consent = "SANDBOX/GOV/DATA-PROTECTION-AUTHORITY/CONSENT"
    im = stack.url("information_mediator") + "/r1/SANDBOX/GOV/SOCIAL-WELFARE/USCT/callbacks/callbacks/consent"
    forged = httpx.post(
        im,
        json={"event": "consent.withdrawn", "data": {"consentRecordId": "x"}},
        headers={
            "Information-Mediator-Client": consent,
            "Information-Mediator-Client-Secret": stack.secret(consent),
            "X-ConsentBB-Signature": "sha256=" + "0" * 64,
        },
    )
    assert forged.status_code == 401


def test_an_enrollment_retried_concurrently_gives_one_enrollment(officer, base):
    import concurrent.futures

    candidate = _candidate(officer, 5)
    officer.post("/api/v1/consent", json={"candidateId": candidate["id"]})
    vid = next(r["vid"] for r in demo_world.residents() if r["name"] == candidate["name"])
    login(base, vid, OTP).put("/api/v1/consent", json={"decision": "give"})
    cookie = {"usct_session": officer.cookies["usct_session"]}
    body = {"candidateId": candidate["id"], "packageId": "pkg-family"}
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        answers = list(
            pool.map(
                lambda _: httpx.post(base + "/api/v1/beneficiaries", json=body, cookies=cookie, timeout=30), range(4)
            )
        )
    assert [a.status_code for a in answers] == [201] * 4, [a.text for a in answers]
    assert len({a.json()["beneficiary"]["id"] for a in answers}) == 1
    rows = officer.get("/api/v1/beneficiaries").json()["beneficiaries"]
    assert [b["package"]["id"] for b in rows if b["candidateId"] == candidate["id"]] == ["pkg-family"]
