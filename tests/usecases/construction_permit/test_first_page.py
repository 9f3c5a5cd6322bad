"""Issue 25: an owner named on an application sees it, and its notifications, on her very first page after
logging in, not only after a reload (linking her to the application must be visible to the page's reads)."""

from __future__ import annotations

import re

import httpx
import pytest

from sandbox.demo_construction_permit import COOKIE
from sandbox.demo_http import login, ok, wait
from services.common import demo_world

pytestmark = pytest.mark.e2e
MAYA = demo_world.with_role("architect")[1]
JONAS = demo_world.with_role("contractor")[0]
OMAR = demo_world.with_role("property_owner")[1]  # owns parcel SBX-0102-0007; no other test logs him in


def _login(stack, person: dict) -> httpx.Client:
    return login(stack.url("construction_permit"), person["vid"], demo_world.sandbox_otp(), COOKIE)


def _notified(client: httpx.Client, app_id: str) -> bool:
    return any(n["applicationId"] == app_id for n in ok(client.get("/api/v1/notifications"))["notifications"])


def _plan(parcel_id: str) -> dict:
    return {
        "parcelId": parcel_id,
        "buildingType": "single_family_house",
        "floorAreaM2": 180,
        "owner": {"vid": OMAR["vid"], "name": OMAR["name"]},
        "architect": {"vid": MAYA["vid"], "name": MAYA["name"]},
        "contractor": {"vid": JONAS["vid"], "name": JONAS["name"]},
    }


def test_the_owner_sees_the_application_and_its_notifications_on_the_first_page(stack):
    maya = _login(stack, MAYA)
    app_id = ok(maya.post("/api/v1/applications", json=_plan("SBX-0102-0007")), 201)["application"]["id"]
    # The start is told to the applicant and to the owner's VID in one event: once the applicant has it,
    # the owner's copy is stored too.
    wait("the start's notification through the IM room", lambda: _notified(maya, app_id), 30)

    omar = _login(stack, OMAR)
    first = omar.get("/", follow_redirects=True)  # where the login callback sends him, with his cookie
    assert first.status_code == 200 and first.url.path == "/applications"
    mine = first.text.split('id="mine"')[1].split("</section>")[0]
    assert app_id in mine, mine
    shown = int(re.search(r"Notifications \((?:<span[^>]*>)?(\d+)", first.text).group(1))
    assert _notified(omar, app_id)
    assert shown == len(ok(omar.get("/api/v1/notifications"))["notifications"]) >= 1


def test_a_second_application_for_the_same_owner_makes_no_call_that_fails(stack):
    """Issue 25: the owner's registration at Consent answered 400 (already known) in the trace of every
    application after the first; a lookup comes first now."""
    maya = _login(stack, MAYA)
    for _ in range(2):  # the same owner, Omar, twice
        started = ok(maya.post("/api/v1/applications", json=_plan("SBX-0102-0007")), 201)
        assert started["application"]["consentStatus"] == "requested"
    calls = ok(maya.get(f"/api/v1/trace/{started['messageId']}"))["exchanges"]
    assert any("/service/individuals" in c["path"] for c in calls), calls  # looked up, not registered again
    assert [(c["method"], c["path"], c["status"]) for c in calls if c["status"] >= 400] == []


def test_a_new_application_of_an_owner_who_consented_makes_no_call_that_fails(stack):
    """Issue 25: an owner who has given consent is not asked again with a request Consent must refuse (403:
    an officer's request may not withdraw her answer); her current record is looked up instead."""
    maya, omar = _login(stack, MAYA), _login(stack, OMAR)
    first = ok(maya.post("/api/v1/applications", json=_plan("SBX-0102-0007")), 201)["application"]["id"]
    ok(omar.put(f"/api/v1/applications/{first}/consent", json={"decision": "give"}))
    started = ok(maya.post("/api/v1/applications", json=_plan("SBX-0102-0007")), 201)
    calls = ok(maya.get(f"/api/v1/trace/{started['messageId']}"))["exchanges"]
    assert [(c["method"], c["path"], c["status"]) for c in calls if c["status"] >= 400] == []
