"""Issue 25: Consent's webhook about a consent request nobody has answered yet must not turn it into a refusal.

The request is a record with optIn=false that the individual has not signed; Consent announces it as
`consent.refused` about two seconds later. The candidate must still find the request pending and agree."""

from __future__ import annotations

import pytest

from sandbox.demo_cash_transfer import ENROLLMENT_OFFICER_VID, login
from services.common import demo_world
from tests.usecases.cash_transfer.consent_webhooks import known_deliveries, wait_for_new_deliveries

pytestmark = pytest.mark.e2e
OTP = demo_world.sandbox_otp()


def _status(client, candidate_id: str) -> str:  # noqa: ANN001
    rows = client.get("/api/v1/candidates").json()["candidates"]
    return next(c for c in rows if c["id"] == candidate_id)["consentStatus"]


def test_a_request_stays_pending_after_its_webhook_and_the_candidate_can_agree(stack):
    base = stack.url("cash_transfer")
    officer = login(base, ENROLLMENT_OFFICER_VID, OTP)
    rows = officer.get("/api/v1/candidates").json()["candidates"]
    candidate = next(c for c in rows if not c["enrolled"] and c["consentStatus"] == "none")

    before = known_deliveries(stack)
    asked = officer.post("/api/v1/consent", json={"candidateId": candidate["id"]})
    assert asked.status_code == 201 and asked.json()["candidate"]["consentStatus"] == "requested"
    wait_for_new_deliveries(stack, before, {"consent.refused"})  # Consent's word about the unanswered record

    vid = next(r["vid"] for r in demo_world.residents() if r["name"] == candidate["name"])
    resident = login(base, vid, OTP)
    # /beneficiaries/me reads our registry only: what the webhook left there.
    assert resident.get("/api/v1/beneficiaries/me").json()["candidate"]["consentStatus"] == "requested"
    assert resident.get("/api/v1/consent").json()["candidate"]["consentStatus"] == "requested"
    page = resident.get("/me").text
    assert 'b-requested">requested' in page and 'id="give"' in page and 'value="refuse"' in page
    assert _status(officer, candidate["id"]) == "requested"

    before = known_deliveries(stack)
    given = resident.put("/api/v1/consent", json={"decision": "give"})
    assert given.status_code == 200 and given.json()["candidate"]["consentStatus"] == "given"
    wait_for_new_deliveries(stack, before, {"consent.given"})
    assert resident.get("/api/v1/beneficiaries/me").json()["candidate"]["consentStatus"] == "given"
    assert _status(officer, candidate["id"]) == "given"
