"""The permit journey clicked through in Chromium: the architect applies on the owner's parcel, the owner
consents, the officer approves, the architect pays at the bank, utilities clear, the mayor signs, and the
public page verifies the permit."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.common import demo_world
from tests.usecases import browser as chromium

pytestmark = [pytest.mark.browser, pytest.mark.e2e]
ARTIFACTS = chromium.ARTIFACTS / "construction_permit"
MAYA = demo_world.with_role("architect")[1]
JONAS = demo_world.with_role("contractor")[0]
GRACE = demo_world.with_role("property_owner")[0]  # owns parcel SBX-0101-0042


def _person(role: str) -> dict:
    return demo_world.with_role(role)[0]


def _shot(page, name: str) -> None:  # noqa: ANN001
    chromium.shot(page, ARTIFACTS / name)


def _login(browser, base: str, person: dict):  # noqa: ANN001, ANN202
    return chromium.login(browser, base, person["vid"])


def _act(page, url: str, action: str, shot: str) -> None:  # noqa: ANN001
    page.goto(url)
    page.click(f"#action-{action} button[type=submit]")
    page.wait_for_selector("#behind-the-scenes")
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
    _shot(architect, "01-architect-application-form.png")
    architect.click("#start")
    architect.wait_for_selector("#state")
    url = architect.url
    assert "/applications/" in url and _state(architect) == "draft"
    assert "requested" in architect.inner_text("#consent-status")
    for kind in ("site_plan", "detailed_plans", "cost_estimate", "property_title"):
        _upload(architect, kind, tmp_path)
    _shot(architect, "02-architect-documents-uploaded.png")

    owner = _login(browser, base, GRACE)
    owner.goto(url)
    owner.click("#consent-give")
    owner.wait_for_selector("#behind-the-scenes")
    assert "given" in owner.inner_text("#consent-status")
    assert "CONSENT" in owner.inner_text("#behind-the-scenes")
    _shot(owner, "03-owner-consent-given.png")

    _act(architect, url, "submit", "04-architect-submitted.png")
    assert _state(architect) == "submitted"

    officer = _login(browser, base, _person("permit_officer"))
    _act(officer, url, "approve_in_principle", "05-officer-approved.png")
    assert _state(officer) == "awaiting payment"

    architect.goto(url)
    bank = architect.context.new_page()
    bank.goto(architect.get_attribute("#pay-at-bank", "href"))
    bank.fill("#login", MAYA["phone_number"])
    bank.fill("#pin", "2468")
    bank.click("button[type=submit]")
    bank.click("#pay")
    bank.wait_for_selector("text=paid")
    _shot(bank, "06-bank-paid.png")

    for _ in range(60):  # Payments' mark-bill-paid arrives through the IM in the background
        architect.reload()
        if _state(architect) != "awaiting payment":
            break
        architect.wait_for_timeout(500)
    assert _state(architect) == "in clearance"

    utilities = _login(browser, base, _person("utilities_officer"))
    _act(utilities, url, "grant_clearance", "07-utilities-cleared.png")
    assert _state(utilities) == "awaiting signature"

    mayor = _login(browser, base, _person("mayor"))
    _act(mayor, url, "sign", "08-mayor-signed.png")
    assert _state(mayor) == "issued"
    code = mayor.inner_text("#permit-code").strip()

    architect.goto(url)
    architect.click("text=Check it on the public page")
    architect.wait_for_selector("#verdict")
    assert "Authentic permit" in architect.inner_text("#verdict")
    _shot(architect, "09-public-verification.png")
    architect.fill("#code", "AAAA-" + code[5:])
    architect.click('form[action="/verify"] button[type=submit]')
    architect.wait_for_selector("#verdict >> text=Not a valid permit")
    _shot(architect, "10-forged-code-refused.png")
