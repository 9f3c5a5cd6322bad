"""Each persona logs in with VID and OTP in Chromium and clicks through the journey to a paid status."""
from __future__ import annotations

from pathlib import Path

import pytest

from sandbox.demo_cash_transfer import ENROLLMENT_OFFICER_VID, PAYMENT_OFFICER_VID
from services.common import demo_world

pytestmark = [pytest.mark.browser, pytest.mark.e2e]
ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts" / "cash_transfer"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync"]


@pytest.fixture(scope="module")
def browser():
    playwright = pytest.importorskip("playwright.sync_api")
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("Debian's chromium is not installed")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        yield browser
        browser.close()


def _shot(page, name: str) -> None:  # noqa: ANN001
    """Screenshots are artefacts, not assertions: headless Chromium here sometimes refuses one, so retry once."""
    for _ in range(2):
        try:
            page.screenshot(path=str(ARTIFACTS / name), full_page=True)
            return
        except Exception:  # noqa: BLE001 - "Unable to capture screenshot" from the browser
            page.wait_for_timeout(300)


def _login(browser, base: str, vid: str, shot: str):  # noqa: ANN001, ANN202
    page = browser.new_context(viewport={"width": 412, "height": 900}).new_page()
    page.set_default_timeout(20_000)
    page.goto(base + "/")
    page.click("#login")
    page.fill("#individual_id", vid)
    page.click("text=Get OTP")
    page.fill("#otp_value", demo_world.sandbox_otp())
    page.click("text=Verify")
    _shot(page, f"{shot}-identity-consent.png")
    page.click("button[value=allow]")
    page.wait_for_url(lambda url: "/authorize" not in url)
    return page


def test_the_three_personas_click_through_to_a_paid_status(browser, stack):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    base = stack.url("cash_transfer")

    officer = _login(browser, base, ENROLLMENT_OFFICER_VID, "01-officer")
    assert officer.url.endswith("/officer")
    row = officer.locator("tr[data-candidate]").filter(has_text="none").first
    name = row.get_attribute("data-candidate")
    row.locator("text=Request consent").click()
    officer.wait_for_selector("#behind-the-scenes")
    assert "CONSENT/consent" in officer.inner_text("#behind-the-scenes")
    _shot(officer, "02-officer-consent-requested.png")

    vid = next(r["vid"] for r in demo_world.residents() if r["name"] == name)
    resident = _login(browser, base, vid, "03-beneficiary")
    assert resident.url.endswith("/me")
    resident.click("#give")
    resident.wait_for_selector("#behind-the-scenes")
    assert "given" in resident.inner_text("#consent")
    _shot(resident, "04-beneficiary-consent-given.png")

    officer.goto(base + "/officer")
    officer.locator(f'tr[data-candidate="{name}"]').locator("text=Enroll").click()
    officer.wait_for_selector("#behind-the-scenes")
    assert "PAYMENTS/mapper" in officer.inner_text("#behind-the-scenes")
    _shot(officer, "05-officer-enrolled.png")

    payer = _login(browser, base, PAYMENT_OFFICER_VID, "06-payer")
    assert payer.url.endswith("/payments")
    for _ in range(50):  # the account mapper's callback arrives in the background
        if "onboarded" in payer.locator(f'tr[data-beneficiary="{name}"]').inner_text():
            break
        payer.wait_for_timeout(300)
        payer.reload()
    payer.locator(f'tr[data-beneficiary="{name}"] input[type=checkbox]').check()
    payer.click("#order")
    payer.wait_for_selector("#behind-the-scenes")
    assert "PAYMENTS/g2p" in payer.inner_text("#behind-the-scenes")
    for _ in range(50):  # ordered -> accepted -> paid, from the bulk payment callback
        status = payer.locator(f'tr[data-order="{name}"]').first.inner_text()
        if "paid" in status or "failed" in status:
            break
        payer.wait_for_timeout(300)
        payer.goto(base + "/payments")
    assert "paid" in payer.locator(f'tr[data-order="{name}"]').first.inner_text()
    _shot(payer, "07-payer-paid.png")

    resident.goto(base + "/me")
    assert "paid" in resident.inner_text("#payments")
    _shot(resident, "08-beneficiary-paid.png")
