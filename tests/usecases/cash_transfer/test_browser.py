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
    chromium.check(page, ARTIFACTS / name)


def _login(browser, base: str, vid: str, shot: str):  # noqa: ANN001, ANN202
    return chromium.login(browser, base, vid, ARTIFACTS / f"{shot}-identity-consent")


def test_the_three_personas_click_through_to_a_paid_status(browser, stack):
    base = stack.url("cash_transfer")
    chromium.home(browser, base, ARTIFACTS / "00-home")

    officer = _login(browser, base, ENROLLMENT_OFFICER_VID, "01-officer")
    assert officer.url.endswith("/officer")
    step, next_step = chromium.journey(officer)
    assert step == "Consent requested" and next_step.startswith("Request consent from a candidate")
    _shot(officer, "01-officer-candidates")
    row = officer.locator("tr[data-candidate]").filter(has_text="none").first
    name = row.get_attribute("data-candidate")
    assert row.locator("button", has_text="Enroll").count() == 0  # no Enroll before consent
    before = webhooks.known_deliveries(stack)
    row.locator("text=Request consent").click()
    panel = chromium.behind_the_scenes(officer)
    assert "CONSENT/consent" in panel and "Cash transfer → Consent BB: asked for consent" in panel
    assert "waiting for" in officer.locator(f'tr[data-candidate="{name}"]').inner_text()
    _shot(officer, "02-officer-consent-requested")
    # As in a live demo, Consent's webhook about the new record arrives before the candidate acts.
    webhooks.wait_for_new_deliveries(stack, before, {"consent.refused"})

    vid = next(r["vid"] for r in demo_world.residents() if r["name"] == name)
    resident = _login(browser, base, vid, "03-beneficiary")
    assert resident.url.endswith("/me")
    assert "requested" in resident.inner_text("#consent")
    assert chromium.journey(resident)[0] == "Consent given"
    assert "agree or refuse" in chromium.journey(resident)[1]
    _shot(resident, "03-beneficiary-asked")
    before = webhooks.known_deliveries(stack)
    resident.click("#give")
    assert "Consent BB" in chromium.behind_the_scenes(resident)
    assert "given" in resident.inner_text("#consent")
    assert chromium.journey(resident)[0] == "Enrolled"
    webhooks.wait_for_new_deliveries(stack, before, {"consent.given"})
    resident.reload()
    assert "given" in resident.inner_text("#consent")
    _shot(resident, "04-beneficiary-consent-given")

    # The officer's page, open all along, shows the answer by itself (live.js), without a reload.
    chromium.updates_in_place(officer, "#next-step", "Enroll the 1 candidate who gave consent.")
    assert chromium.journey(officer) == ("Enrolled", "Enroll the 1 candidate who gave consent.")
    officer.locator(f'tr[data-candidate="{name}"]').locator("button", has_text="Enroll").click()
    assert "PAYMENTS/mapper" in chromium.behind_the_scenes(officer)
    _shot(officer, "05-officer-enrolled")

    payer = _login(browser, base, PAYMENT_OFFICER_VID, "06-payer")
    assert payer.url.endswith("/payments")
    # The account mapper's callback arrives in the background; the page shows it by itself.
    chromium.updates_in_place(payer, f'tr[data-beneficiary="{name}"]', "onboarded")
    chromium.updates_in_place(payer, "#tracker [aria-current=step]", "Paid")
    _shot(payer, "06-payer-ready")
    payer.locator(f'tr[data-beneficiary="{name}"] input[type=checkbox]').check()
    payer.click("#order")
    confirm = payer.inner_text("#confirm h2")
    assert confirm.startswith("Pay ") and confirm.endswith(" to 1 beneficiary?")
    assert "confirm the payment" in chromium.journey(payer)[1]
    _shot(payer, "06-payer-confirm")
    payer.click("#confirm-pay")
    assert "PAYMENTS/g2p" in chromium.behind_the_scenes(payer)
    # ordered -> accepted -> paid, from the bulk payment callback, shown as it comes
    chromium.updates_in_place(payer, f'tr[data-order="{name}"]', "paid")
    _shot(payer, "07-payer-paid")

    resident.goto(base + "/no-such-page")  # a page for people, not JSON
    assert resident.inner_text("h1") == "Page not found"
    _shot(resident, "09-not-found")

    resident.goto(base + "/me")
    assert "paid" in resident.inner_text("#payments")
    assert chromium.journey(resident) == ("(all done)", "You have been paid. Nothing else to do.")
    _shot(resident, "08-beneficiary-paid")


def test_the_administrator_grants_a_role_that_binds_at_first_login_and_revokes_it(browser, stack):
    base = stack.url("cash_transfer")
    ruth = demo_world.with_role("civil_protection_officer")[0]  # nobody in this programme yet
    admin = _login(browser, base, demo_world.with_role("administrator")[0]["vid"], "11-administrator")
    assert admin.url.endswith("/admin")
    admin.fill("input[name=vid]", ruth["vid"])
    admin.fill("input[name=name]", ruth["name"])
    admin.select_option("select[name=role]", "enrollment_officer")
    admin.click("#grant button")
    assert "IDENTITY/verification" in chromium.behind_the_scenes(admin)  # Identity confirmed VID and name
    row = admin.locator("#assignments tr", has_text=ruth["vid"])
    assert "pending" in row.inner_text()
    _shot(admin, "12-administrator-granted")

    officer = _login(browser, base, ruth["vid"], "13-new-officer")
    assert officer.url.endswith("/officer")  # bound at her first login
    admin.goto(base + "/admin")
    assert "active" in admin.locator("#assignments tr", has_text=ruth["vid"]).inner_text()
    admin.locator("#assignments tr", has_text=ruth["vid"]).locator("text=Revoke").click()
    admin.wait_for_selector("#behind-the-scenes")
    assert "revoked" in admin.locator("#assignments tr", has_text=ruth["vid"]).inner_text()
    _shot(admin, "14-administrator-revoked")
    officer.goto(base + "/officer")
    assert "/officer" not in officer.url and "enrollment officer role" in officer.inner_text("#error")
