"""Each persona logs in with VID and OTP in Chromium and clicks through the journey to a paid status."""

from __future__ import annotations

import pytest

from sandbox.demo_cash_transfer import ENROLLMENT_OFFICER_VID, PAYMENT_OFFICER_VID
from services.common import demo_world
from tests.usecases import browser as chromium
from tests.usecases.cash_transfer import consent_webhooks as webhooks

pytestmark = [pytest.mark.browser, pytest.mark.e2e]
ARTIFACTS = chromium.ARTIFACTS / "cash_transfer"


def _shot(page, name: str) -> None:  # noqa: ANN001
    chromium.shot(page, ARTIFACTS / name)


def _login(browser, base: str, vid: str, shot: str):  # noqa: ANN001, ANN202
    return chromium.login(browser, base, vid, ARTIFACTS / f"{shot}-identity-consent.png")


def test_the_three_personas_click_through_to_a_paid_status(browser, stack):
    base = stack.url("cash_transfer")

    officer = _login(browser, base, ENROLLMENT_OFFICER_VID, "01-officer")
    assert officer.url.endswith("/officer")
    row = officer.locator("tr[data-candidate]").filter(has_text="none").first
    name = row.get_attribute("data-candidate")
    before = webhooks.known_deliveries(stack)
    row.locator("text=Request consent").click()
    officer.wait_for_selector("#behind-the-scenes")
    assert "CONSENT/consent" in officer.inner_text("#behind-the-scenes")
    _shot(officer, "02-officer-consent-requested.png")
    # As in a live demo, Consent's webhook about the new record arrives before the candidate acts.
    webhooks.wait_for_new_deliveries(stack, before, {"consent.refused"})

    vid = next(r["vid"] for r in demo_world.residents() if r["name"] == name)
    resident = _login(browser, base, vid, "03-beneficiary")
    assert resident.url.endswith("/me")
    assert "requested" in resident.inner_text("#consent")
    before = webhooks.known_deliveries(stack)
    resident.click("#give")
    resident.wait_for_selector("#behind-the-scenes")
    assert "given" in resident.inner_text("#consent")
    webhooks.wait_for_new_deliveries(stack, before, {"consent.given"})
    resident.reload()
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


def test_the_administrator_grants_a_role_that_binds_at_first_login_and_revokes_it(browser, stack):
    base = stack.url("cash_transfer")
    ruth = demo_world.with_role("civil_protection_officer")[0]  # nobody in this programme yet
    admin = _login(browser, base, demo_world.with_role("administrator")[0]["vid"], "11-administrator")
    assert admin.url.endswith("/admin")
    admin.fill("input[name=vid]", ruth["vid"])
    admin.fill("input[name=name]", ruth["name"])
    admin.select_option("select[name=role]", "enrollment_officer")
    admin.click("#grant button")
    admin.wait_for_selector("#behind-the-scenes")
    assert "IDENTITY/verification" in admin.inner_text("#behind-the-scenes")  # Identity confirmed VID and name
    row = admin.locator("#assignments tr", has_text=ruth["vid"])
    assert "pending" in row.inner_text()
    _shot(admin, "12-administrator-granted.png")

    officer = _login(browser, base, ruth["vid"], "13-new-officer")
    assert officer.url.endswith("/officer")  # bound at her first login
    admin.goto(base + "/admin")
    assert "active" in admin.locator("#assignments tr", has_text=ruth["vid"]).inner_text()
    admin.locator("#assignments tr", has_text=ruth["vid"]).locator("text=Revoke").click()
    admin.wait_for_selector("#behind-the-scenes")
    assert "revoked" in admin.locator("#assignments tr", has_text=ruth["vid"]).inner_text()
    _shot(admin, "14-administrator-revoked.png")
    officer.goto(base + "/officer")
    assert "/officer" not in officer.url and "enrollment_officer role" in officer.inner_text("#error")
