"""Browser fixtures for the UI plugin's pages: Debian's Chromium (the ``chromium`` package, never a browser
a test tool downloads) driven by Playwright: one Chromium for the session, a fresh context (its own cookies, storage and cache,
as a new incognito profile has) per test, signed in to Airflow's API
server as a person. A test module uses them with ``pytest_plugins = ["browser"]``.

Without Chromium or Playwright the browser tests skip and say why; ``make test`` installs Debian's
chromium when it runs as root and the browser is missing."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path(os.environ.get("ERP_SYNC_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOTS = Path(os.environ.get("ERP_SYNC_SCREENSHOTS", ROOT / "tests" / "screenshots"))
VIEWPORT = {"width": 1500, "height": 1000}


@pytest.fixture(scope="session")
def chromium_driver():
    """Playwright, once per session; skips (saying why) where Chromium or Playwright is missing."""
    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM}: install Debian's package (`apt-get install -y chromium`; "
                    "`make test` does it when run as root)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed "
                                                                 "(it is in requirements.txt: `make test` installs it)")
    with sync_api.sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def chromium(chromium_driver):
    """One Chromium process for the session (starting one per test costs seconds each)."""
    browser = chromium_driver.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS)
    yield browser
    browser.close()


class Browser:
    """A Chromium context of its own; ``sign_in`` opens a tab signed in to Airflow as a person."""

    def __init__(self, context):
        self.context = context

    def sign_in(self, airflow_api, username: str, role: str = "user"):
        """Airflow's UI keeps the sign-in in the ``_token`` cookie; this is the cookie its login sets."""
        self.context.add_cookies([{"name": "_token", "value": airflow_api.token(username, role),
                                   "url": airflow_api.url, "httpOnly": True, "sameSite": "Lax"}])
        return self.context.new_page()

    def visitor(self):
        """A tab of a visitor who never signed in."""
        return self.context.new_page()


@pytest.fixture
def browser(chromium) -> Browser:
    context = chromium.new_context(viewport=VIEWPORT)
    try:
        yield Browser(context)
    finally:
        context.close()


def screenshot(page, name: str) -> Path:
    """Save the whole page as ``tests/screenshots/<name>.png`` (git-ignored) and print where."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{re.sub(r'[^A-Za-z0-9_.-]+', '-', name)}.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")
    return path



WIDTHS = (1280, 1440)  # a laptop's window and a desktop's


def fits(page, name: str) -> None:
    """At each width the page needs no sideways scrolling; a screenshot of each to look at."""
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        needed, window = page.evaluate("[document.scrollingElement.scrollWidth, window.innerWidth]")
        assert needed <= window, f"{name} needs {needed} px in a {window} px wide window"
        screenshot(page, f"{name}-{width}")
    page.set_viewport_size({"width": WIDTHS[0], "height": 900})
