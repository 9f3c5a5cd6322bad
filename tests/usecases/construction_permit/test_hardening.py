"""Login CSRF, form and API CSRF, and security headers of the construction-permit pages (real stack)."""

from __future__ import annotations

import pytest

from sandbox.demo_construction_permit import COOKIE
from sandbox.demo_http import login
from services.common import demo_world
from tests.usecases import hardening

pytestmark = pytest.mark.e2e
JONAS = demo_world.with_role("contractor")[0]


@pytest.fixture(scope="module")
def base(stack):
    return stack.url("construction_permit")


@pytest.fixture(scope="module")
def jonas(base):
    return login(base, JONAS["vid"], demo_world.sandbox_otp(), COOKIE)


def test_a_callback_link_from_another_browser_logs_no_one_in(base):
    hardening.assert_callback_refused_in_another_browser(base, JONAS["vid"], COOKIE)


def test_the_login_cookie_is_the_state_and_short_lived(base):
    hardening.assert_login_cookie_is_bound_and_short_lived(base, COOKIE)


def test_page_forms_carry_and_need_the_csrf_token(jonas):
    hardening.assert_forms_need_the_token(jonas, "/applications", "/applications", {"parcelId": "SBX-0101-0042"})


def test_errors_on_page_routes_reach_a_browser_as_pages(jonas):
    hardening.assert_page_errors_reach_people_as_pages(
        jonas, "/applications", {"parcelId": "SBX-0101-0042"}, "/api/v1/applications"
    )


def test_cross_origin_api_calls_need_the_csrf_token(jonas):
    hardening.assert_cross_origin_api_calls_need_the_token(jonas, "/api/v1/applications", {})


def test_every_response_has_the_security_headers(jonas, base):
    for response in (jonas.get("/applications"), jonas.get("/verify"), jonas.get("/api/v1/notifications")):
        hardening.assert_security_headers(response)


def test_a_logout_at_identity_ends_the_session_here(base):
    hardening.assert_logout_at_identity_ends_our_session(base, JONAS["vid"], COOKIE)
