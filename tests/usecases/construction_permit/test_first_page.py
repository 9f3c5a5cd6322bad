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


def test_the_owner_sees_the_application_and_its_notifications_on_the_first_page(stack):
    maya = _login(stack, MAYA)
    plan = {
        "parcelId": "SBX-0102-0007",
        "buildingType": "single_family_house",
        "floorAreaM2": 180,
        "owner": {"vid": OMAR["vid"], "name": OMAR["name"]},
        "architect": {"vid": MAYA["vid"], "name": MAYA["name"]},
        "contractor": {"vid": JONAS["vid"], "name": JONAS["name"]},
    }
    app_id = ok(maya.post("/api/v1/applications", json=plan), 201)["application"]["id"]
    # The start is told to the applicant and to the owner's VID in one event: once the applicant has it,
    # the owner's copy is stored too.
    wait("the start's notification through the IM room", lambda: _notified(maya, app_id), 30)

    omar = _login(stack, OMAR)
    first = omar.get("/", follow_redirects=True)  # where the login callback sends him, with his cookie
    assert first.status_code == 200 and first.url.path == "/applications"
    mine = first.text.split('id="mine"')[1].split("</section>")[0]
    assert app_id in mine, mine
    shown = int(re.search(r"Notifications \((\d+)\)", first.text).group(1))
    assert _notified(omar, app_id)
    assert shown == len(ok(omar.get("/api/v1/notifications"))["notifications"]) >= 1
