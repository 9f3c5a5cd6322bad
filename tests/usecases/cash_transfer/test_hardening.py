"""Login CSRF, form and API CSRF, and security headers of the cash-transfer pages (real stack)."""

from __future__ import annotations

import pytest

from sandbox.demo_cash_transfer import ENROLLMENT_OFFICER_VID, login
from services.common import demo_world
from tests.usecases import hardening

pytestmark = pytest.mark.e2e
COOKIE = "usct_session"


@pytest.fixture(scope="module")
def base(stack):
    return stack.url("cash_transfer")


@pytest.fixture(scope="module")
def officer(base):
    return login(base, ENROLLMENT_OFFICER_VID, demo_world.sandbox_otp())


def test_a_callback_link_from_another_browser_logs_no_one_in(base):
    hardening.assert_callback_refused_in_another_browser(base, ENROLLMENT_OFFICER_VID, COOKIE)


def test_the_login_cookie_is_the_state_and_short_lived(base):
    hardening.assert_login_cookie_is_bound_and_short_lived(base, COOKIE)


def test_page_forms_carry_and_need_the_csrf_token(officer):
    candidate = officer.get("/api/v1/candidates").json()["candidates"][0]
    hardening.assert_forms_need_the_token(officer, "/officer", "/officer/consent", {"candidateId": candidate["id"]})


def test_errors_on_page_routes_reach_a_browser_as_pages(officer):
    hardening.assert_page_errors_reach_people_as_pages(
        officer, "/officer/consent", {"candidateId": "x"}, "/api/v1/candidates"
    )


def test_cross_origin_api_calls_need_the_csrf_token(officer):
    hardening.assert_cross_origin_api_calls_need_the_token(officer, "/api/v1/beneficiaries", {"candidateId": ""})


def test_every_response_has_the_security_headers(officer, base):
    for response in (officer.get("/officer"), officer.get("/api/v1/roles"), officer.get("/login")):
        hardening.assert_security_headers(response)


def test_a_logout_at_identity_ends_the_session_here(base):
    hardening.assert_logout_at_identity_ends_our_session(base, ENROLLMENT_OFFICER_VID, COOKIE)
