"""What the use cases' browser tests share (the `browser` fixture is in conftest.py): every page state they
visit is checked with axe-core and kept as screenshots at desktop and phone sizes, and the OIDC login goes
through the Identity BB's pages."""

from __future__ import annotations

import fcntl
import subprocess
from functools import cache
from pathlib import Path

from services.common import demo_world

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
AXE_DIR = Path(__file__).resolve().parent / "axe"
AXE_JS = AXE_DIR / "node_modules" / "axe-core" / "axe.min.js"
SIZES = {"desktop": (1366, 768), "phone": (390, 844)}
BLOCKING = ("serious", "critical")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@cache
def axe_source() -> str:
    """axe-core from the npm registry (tests/usecases/axe/package-lock.json), installed on first use."""
    with (AXE_DIR / ".install.lock").open("w") as lock:  # pytest-xdist workers install it once
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not AXE_JS.exists():
            subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=AXE_DIR, check=True, capture_output=True)
    return AXE_JS.read_text()


def shot(page, path: Path) -> None:  # noqa: ANN001
    """Screenshots are artefacts, not assertions: headless Chromium here sometimes refuses one, so retry once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(2):
        try:
            page.screenshot(path=str(path), full_page=True)
            return
        except Exception:  # noqa: BLE001 - "Unable to capture screenshot" from the browser
            page.wait_for_timeout(300)


def violations(page) -> list[dict]:  # noqa: ANN001
    """axe-core's serious and critical findings on the page as it is now."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(axe_source())  # through DevTools: the pages' CSP (script-src 'self') stays in force
    found = page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations")
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in found
        if v["impact"] in BLOCKING
    ]


# What axe-core leaves to people: headings in order (and the page title the largest), and the borders of
# text fields at least 3:1 against white (WCAG 1.4.11).
LAYOUT = """() => {
  const headings = [...document.querySelectorAll("h1, h2, h3, h4, h5, h6")];
  const size = (h) => parseFloat(getComputedStyle(h).fontSize);
  const luminance = (rgb) => {
    const [r, g, b] = rgb.match(/[0-9.]+/g).slice(0, 3).map((v) => {
      const c = Number(v) / 255;
      return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const fields = "input:not([type=hidden]):not([type=checkbox]):not([type=radio]), select, textarea";
  const title = Math.max(...headings.filter((h) => h.tagName === "H1").map(size));
  return {
    levels: headings.map((h) => Number(h.tagName[1])),
    titleLargest: headings.every((h) => h.tagName === "H1" || size(h) < title),
    weakBorders: [...document.querySelectorAll(fields)]
      .filter((f) => 1.05 / (luminance(getComputedStyle(f).borderTopColor) + 0.05) < 3)
      .map((f) => f.id || f.name),
  };
}"""


def layout_problems(page) -> list[str]:  # noqa: ANN001
    facts = page.evaluate(LAYOUT)
    levels, problems = facts["levels"], []
    if not levels or levels[0] != 1 or any(b > a + 1 for a, b in zip(levels, levels[1:], strict=False)):
        problems.append(f"headings out of order: {levels}")
    if not facts["titleLargest"]:
        problems.append("a heading is as large as the page title")
    if facts["weakBorders"]:
        problems.append(f"field borders under 3:1: {facts['weakBorders']}")
    return problems


def check(page, path: Path) -> None:  # noqa: ANN001
    """One page state: screenshots at both sizes (`<path>-desktop.png`, `<path>-phone.png`), then axe-core at
    each size; fails on a serious or critical violation, headings out of order or faint field borders."""
    original = page.viewport_size
    problems = {}
    for size, (width, height) in SIZES.items():
        page.set_viewport_size({"width": width, "height": height})
        shot(page, path.with_name(f"{path.stem}-{size}.png"))
        if found := violations(page) + layout_problems(page):
            problems[size] = found
    page.set_viewport_size(original)
    assert not problems, f"axe-core and layout on {page.url}: {problems}"


def home(browser, base: str, path: Path) -> None:  # noqa: ANN001
    """The use case's home page before anyone logs in, checked like every other state."""
    page = browser.new_context(viewport={"width": 412, "height": 900}).new_page()
    page.goto(base + "/")
    assert page.locator("#personas a.persona-login").count() > 0  # "log in as…" links with the VID
    assert "login_hint=" in page.get_attribute("#personas a.persona-login >> nth=0", "href")
    check(page, path)
    link = page.locator("#personas a.persona-login").first
    vid = link.get_attribute("href").split("login_hint=")[1]
    link.click()
    assert page.input_value("#individual_id") == vid  # Identity's login page opens with the VID filled in
    page.context.close()


def journey(page) -> tuple[str, str]:  # noqa: ANN001
    """(the tracker's current step, the "your next step" text); both must be on the page."""
    current = page.locator("#tracker [aria-current=step] .label")
    current_step = current.inner_text().split("(")[0].strip() if current.count() else "(all done)"
    return current_step, page.inner_text("#next-step .next-text").strip()


def behind_the_scenes(page) -> str:  # noqa: ANN001
    """The panel's text, the raw calls (folded in <details>) included."""
    page.wait_for_selector("#behind-the-scenes")
    return page.text_content("#behind-the-scenes") or ""


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
        shot(page, consent_shot.with_suffix(".png"))
    page.click("button[value=allow]")
    page.wait_for_url(lambda url: "/authorize" not in url)
    return page


def updates_in_place(page, selector: str, text: str, timeout: float = 30_000) -> None:  # noqa: ANN001
    """Waits until `selector` shows `text` by itself (static/live.js), without the page being reloaded."""
    page.evaluate("() => { window.notReloaded = true; }")
    page.locator(selector, has_text=text).first.wait_for(timeout=timeout)
    assert page.evaluate("() => window.notReloaded === true"), "the page was reloaded"


def live_refreshes(page, milliseconds: float) -> int:  # noqa: ANN001
    """How many times live.js fetched the page again during the next `milliseconds`."""
    seen = []

    def count(request) -> None:  # noqa: ANN001
        if request.headers.get("x-live-refresh") == "1":
            seen.append(request.url)

    page.on("request", count)
    page.wait_for_timeout(milliseconds)
    page.remove_listener("request", count)
    return len(seen)
