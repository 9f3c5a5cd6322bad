"""The permit journey clicked through in Chromium: the architect applies on the owner's parcel, the owner
consents, the officer approves, the architect pays at the bank, utilities clear, the mayor signs, and the
public page verifies the permit."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.common import demo_world
from tests.usecases import browser as chromium
from usecases.construction_permit.pages import ACTION_LABELS

pytestmark = [pytest.mark.browser, pytest.mark.e2e]
ARTIFACTS = chromium.ARTIFACTS / "construction_permit"
MAYA = demo_world.with_role("architect")[1]
JONAS = demo_world.with_role("contractor")[0]
GRACE = demo_world.with_role("property_owner")[0]  # owns parcel SBX-0101-0042


def _person(role: str) -> dict:
    return demo_world.with_role(role)[0]


def _shot(page, name: str) -> None:  # noqa: ANN001
    chromium.check(page, ARTIFACTS / name)


def _login(browser, base: str, person: dict):  # noqa: ANN001, ANN202
    return chromium.login(browser, base, person["vid"])


def _act(page, url: str, action: str, shot: str) -> None:  # noqa: ANN001
    page.goto(url)
    assert ACTION_LABELS[action].lower() in chromium.journey(page)[1].lower()  # the next-step box names it
    page.click(f"#action-{action} button[type=submit]")
    chromium.behind_the_scenes(page)
    _shot(page, shot)


def _upload(page, kind: str, tmp_path: Path) -> None:  # noqa: ANN001
    document = tmp_path / f"{kind}.pdf"
    document.write_bytes(b"%PDF-1.4\n% " + kind.encode() + b"\n%%EOF\n")
    page.select_option("#kind", kind)
    page.set_input_files("#file", str(document))
    page.click("#upload")
    page.wait_for_selector(f"#documents >> text={document.name}")


def _state(page) -> str:  # noqa: ANN001
    return page.inner_text("#state").strip()


def test_the_personas_click_from_application_to_a_verified_permit(browser, stack, tmp_path):
    base = stack.url("construction_permit")
    chromium.home(browser, base, ARTIFACTS / "00-home")

    architect = _login(browser, base, MAYA)
    assert architect.url.endswith("/applications")
    architect.fill("#parcel", "SBX-0101-0042")
    architect.click("text=Look up the parcel")
    architect.wait_for_selector("#parcel-facts")
    architect.select_option("#buildingType", "single_family_house")
    architect.fill("#floorAreaM2", "160")
    for role, person in (("owner", GRACE), ("architect", MAYA), ("contractor", JONAS)):
        architect.fill(f"#{role}Vid", person["vid"])
        architect.fill(f"#{role}Name", person["name"])
    architect.fill("#contractorName", "Jonas Tam")  # a typo: Identity does not confirm it
    _shot(architect, "01-architect-application-form")
    architect.click("#start")
    architect.wait_for_selector("#error-summary")
    assert "contractor" in architect.inner_text("#error-summary")
    assert "check both" in architect.inner_text("#contractorVid-error")
    assert architect.input_value("#floorAreaM2") == "160"  # what was typed is kept
    assert architect.input_value("#ownerVid") == GRACE["vid"]
    assert architect.input_value("#contractorName") == "Jonas Tam"
    _shot(architect, "01-architect-form-error")
    architect.fill("#contractorName", JONAS["name"])
    architect.click("#start")
    architect.wait_for_selector("#state")
    url = architect.url
    assert "/applications/" in url and _state(architect) == "draft"
    assert "requested" in architect.inner_text("#consent-status")
    assert chromium.journey(architect) == ("Owner's consent", architect.inner_text("#next-step .next-text").strip())
    assert chromium.journey(architect)[1].startswith("Upload the missing documents")
    for kind in ("site_plan", "detailed_plans", "cost_estimate", "property_title"):
        _upload(architect, kind, tmp_path)
    _shot(architect, "02-architect-documents-uploaded")

    owner = _login(browser, base, GRACE)
    assert owner.url.endswith("/applications")  # her first page lists the application (issue 25's bug 2)
    assert url.split("/applications/")[1].split("?")[0] in owner.inner_text("#mine")
    owner.goto(base + "/applications/APP-NOSUCH1")
    assert owner.inner_text("h1") == "Page not found"
    _shot(owner, "03-owner-not-found")
    owner.goto(url)
    assert chromium.journey(owner) == ("Owner's consent", "Give or refuse your consent as the owner (below).")
    _shot(owner, "03-owner-asked")
    owner.click("#consent-give")
    assert "CONSENT" in chromium.behind_the_scenes(owner)
    assert "given" in owner.inner_text("#consent-status")
    assert chromium.journey(owner)[0] == "Submitted"
    _shot(owner, "03-owner-consent-given")

    _act(architect, url, "submit", "04-architect-submitted")
    assert _state(architect) == "submitted"

    officer = _login(browser, base, _person("permit_officer"))
    _act(officer, url, "approve_in_principle", "05-officer-approved")
    assert _state(officer) == "awaiting payment"

    architect.goto(url)
    assert chromium.journey(architect) == (
        "Fee paid",
        f"Pay the fee of {architect.inner_text('#fee').split(' USD')[0].split()[-1]} USD at your bank.",
    )
    bank = architect.context.new_page()
    bank.goto(architect.get_attribute("#pay-at-bank", "href"))
    bank.fill("#login", MAYA["phone_number"])
    bank.fill("#pin", "2468")
    bank.click("button[type=submit]")
    bank.click("#pay")
    bank.wait_for_selector("text=paid")
    chromium.updates_in_place(bank, "#payments", "confirmed")  # the biller's acknowledgement, by itself
    chromium.shot(bank, ARTIFACTS / "06-bank-paid.png")  # the Payments BB's page: its own area

    # Payments' mark-bill-paid arrives through the IM in the background: the page shows it by itself.
    chromium.updates_in_place(architect, "#state", "in clearance")
    assert "clearances" in chromium.journey(architect)[1]

    utilities = _login(browser, base, _person("utilities_officer"))
    utilities.goto(url)
    utilities.fill("#field-grant_clearance", "Connection to the grid agreed")  # typing: no refresh meanwhile
    assert chromium.live_refreshes(utilities, 3000) == 0
    utilities.locator("#field-grant_clearance").blur()
    assert chromium.live_refreshes(utilities, 3500) >= 1
    assert utilities.input_value("#field-grant_clearance") == "Connection to the grid agreed"  # kept
    _act(utilities, url, "grant_clearance", "07-utilities-cleared")
    assert _state(utilities) == "awaiting signature"

    mayor = _login(browser, base, _person("mayor"))
    _act(mayor, url, "sign", "08-mayor-signed")
    assert _state(mayor) == "issued"
    code = mayor.inner_text("#permit-code").strip()
    assert chromium.journey(mayor)[0] == "(all done)"

    architect.goto(url)
    architect.click("#permit a >> text=Check it on the public page")
    architect.wait_for_selector("#verdict")
    assert "Authentic permit" in architect.inner_text("#verdict")
    _shot(architect, "09-public-verification")
    architect.fill("#code", "AAAA-" + code[5:])
    architect.click('form[action="/verify"] button[type=submit]')
    architect.wait_for_selector("#verdict >> text=Not a valid permit")
    _shot(architect, "10-forged-code-refused")
