"""What the use cases' browser tests share (the `browser` fixture is in conftest.py): screenshots kept as
artefacts, and the OIDC login through the Identity BB's pages."""

from __future__ import annotations

from pathlib import Path

from services.common import demo_world

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def shot(page, path: Path) -> None:  # noqa: ANN001
    """Screenshots are artefacts, not assertions: headless Chromium here sometimes refuses one, so retry once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(2):
        try:
            page.screenshot(path=str(path), full_page=True)
            return
        except Exception:  # noqa: BLE001 - "Unable to capture screenshot" from the browser
            page.wait_for_timeout(300)


def login(browser, base: str, vid: str, consent_shot: Path | None = None):  # noqa: ANN001, ANN201
    """A new phone-sized browser context logged in to the use case at `base` with VID + OTP."""
    page = browser.new_context(viewport={"width": 412, "height": 900}).new_page()
    page.set_default_timeout(20_000)
    page.goto(base + "/")
    page.click("#login")
    page.fill("#individual_id", vid)
    page.click("text=Get OTP")
    page.fill("#otp_value", demo_world.sandbox_otp())
    page.click("text=Verify")
    if consent_shot is not None:
        shot(page, consent_shot)
    page.click("button[value=allow]")
    page.wait_for_url(lambda url: "/authorize" not in url)
    return page
