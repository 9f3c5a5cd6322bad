"""The OTP login in Debian's Chromium at desktop and phone sizes: every page state is screenshotted
(test-artifacts/screenshots/identity/) and checked with axe-core, headings in order, input borders >= 3:1
against their background, nothing wider than the screen."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from services.common import demo_world
from tests.services.identity.conftest import running_identity
from tests.services.identity.helpers import KOFI, authorize_url, client_key, new_client_id, register
from tests.support import fresh_database
from tests.usecases.browser import ARGS, ARTIFACTS, SIZES, shot, violations

RESEND_SECONDS = 3
SHOTS = ARTIFACTS / "identity"
RP_LOGO = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="64" height="40"><rect width="64" height="40" rx="6" '
    'fill="#1a3f8b"/><text x="32" y="26" font-size="16" fill="#fff" text-anchor="middle">CT</text></svg>'
)


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium driven by Playwright (which never downloads a browser of its own)."""
    playwright = pytest.importorskip("playwright.sync_api")
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("Debian's chromium is not installed")
    with playwright.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("identity-browser")
    with (
        fresh_database(tmp, "identity") as db,
        running_identity(db, tmp, otp_resend_seconds=RESEND_SECONDS) as server,
    ):
        yield server


@pytest.fixture(scope="module")
def login_url(live, http) -> str:  # noqa: ANN001
    """A relying party whose redirect URI is the provider's own /health (so the end of the login is a real page)."""
    client_id, callback = new_client_id(), live.url + "/health"
    register(http, client_id, client_key(0), clientName="Cash Transfer Programme", redirectUris=[callback])
    return live.url + authorize_url(client_id, redirect_uri=callback, state="st-1")


def open_page(browser, size: str):  # noqa: ANN001, ANN201
    width, height = SIZES[size]
    page = browser.new_context(viewport={"width": width, "height": height}).new_page()
    page.set_default_timeout(15_000)
    page.route("https://rp.example/**", lambda route: route.fulfill(body=RP_LOGO, content_type="image/svg+xml"))
    return page


def luminance(css_color: str) -> float:
    r, g, b = (int(x) / 255 for x in re.findall(r"\d+", css_color)[:3])
    channel = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in (r, g, b)]
    return 0.2126 * channel[0] + 0.7152 * channel[1] + 0.0722 * channel[2]


def contrast(a: str, b: str) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def look_at(page, state: str, size: str) -> None:  # noqa: ANN001
    """One page state: screenshot, axe-core (serious/critical fail), headings, input borders, no sideways scroll."""
    shot(page, SHOTS / f"{state}-{size}.png")
    assert not violations(page), f"axe-core on {state} ({size}): {violations(page)}"
    levels = [int(tag[1]) for tag in page.eval_on_selector_all("h1,h2,h3,h4,h5,h6", "hs => hs.map(h => h.tagName)")]
    assert levels[:1] == [1] and all(b - a <= 1 for a, b in zip(levels, levels[1:], strict=False)), levels
    borders = page.eval_on_selector_all(
        "input[type=text], input[type=password]",
        "xs => xs.filter(x => x.offsetParent).map(x => [getComputedStyle(x).borderTopColor,"
        " getComputedStyle(x).backgroundColor])",
    )
    assert all(contrast(border, "rgb(255, 255, 255)") >= 3 for border, _ in borders), borders
    assert page.evaluate("document.documentElement.scrollWidth") <= SIZES[size][0]


@pytest.mark.parametrize("size", list(SIZES))
def test_otp_login_walk(browser, login_url, size):
    page = open_page(browser, size)
    page.goto(login_url)
    assert page.locator("#provider").inner_text() == "National Identity Authority"
    assert "Cash Transfer Programme wants to know who you are." in page.locator("#relying-party").inner_text()
    assert "111111" in page.locator("#sandbox-hint").inner_text()
    look_at(page, "1-login", size)

    page.click(f"#demo-logins button[data-vid='{KOFI['vid']}']")  # the sandbox hint fills the VID in
    assert page.input_value("#individual_id") == KOFI["vid"]
    page.click("text=Get OTP")
    assert "+999 ••• ••64" in page.locator("#otp-sent").inner_text()
    assert page.locator("#sent-for").inner_text() == KOFI["vid"]
    assert page.locator("#resend").is_disabled() and "new code in" in page.locator("#resend-timer").inner_text()
    assert page.locator("text=Verify").is_visible() and page.locator("#change-id").is_visible()
    look_at(page, "2-code-sent", size)

    page.fill("#otp_value", "000000")
    page.click("text=Verify")
    assert "That code is not right. You have 2 attempts left." in page.locator("#error").inner_text()
    look_at(page, "3-wrong-code", size)

    page.wait_for_function("!document.getElementById('resend').disabled", timeout=(RESEND_SECONDS + 3) * 1000)
    page.click("#resend")
    assert page.locator("#resend").is_disabled()  # a new code, a new wait
    page.fill("#otp_value", demo_world.sandbox_otp())
    page.click("text=Verify")
    assert page.locator("h1").inner_text() == "Share your data with Cash Transfer Programme?"
    look_at(page, "4-consent", size)

    page.click("button[value=allow]")
    page.wait_for_url(lambda url: "/health" in url)
    assert parse_qs(urlsplit(page.url).query)["state"] == ["st-1"] and "code=" in page.url
    page.context.close()


@pytest.mark.parametrize("size", list(SIZES))
def test_change_vid_and_three_wrong_codes(browser, login_url, size):
    page = open_page(browser, size)
    page.goto(login_url)
    page.fill("#individual_id", demo_world.residents()[1]["vid"])
    page.click("text=Get OTP")
    page.click("#change-id")
    assert page.input_value("#individual_id") == ""
    page.fill("#individual_id", demo_world.residents()[2 + list(SIZES).index(size)]["vid"])  # a resident per size:
    page.click("text=Get OTP")  # five wrong codes in a row would lock the identity (test_lockout.py)
    for _ in range(3):
        page.fill("#otp_value", "000000")
        page.click("text=Verify")
    assert page.locator("h1").inner_text() == "This login has been stopped"
    assert "for your security this login has been stopped" in page.locator("#stopped").inner_text()
    look_at(page, "5-stopped", size)
    page.click("#back")
    page.wait_for_url(lambda url: "/health" in url)
    assert parse_qs(urlsplit(page.url).query)["error"] == ["access_denied"]
    page.context.close()
