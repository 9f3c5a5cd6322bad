from __future__ import annotations

from pathlib import Path

import pytest

from tests.usecases.browser import ARGS, ARTIFACTS


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium driven by Playwright (which never downloads a browser of its own)."""
    playwright = pytest.importorskip("playwright.sync_api")
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("Debian's chromium is not installed")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        yield browser
        browser.close()


def pytest_terminal_summary(terminalreporter) -> None:  # noqa: ANN001
    """Where the browser tests left their screenshots (every page state, desktop and phone)."""
    if ARTIFACTS.exists():
        terminalreporter.write_line(f"browser test screenshots: {ARTIFACTS}")
