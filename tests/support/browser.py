"""Chromium for the portal's and the console's tests: one browser for the whole session.

A pytest plugin (tests/conftest.py loads it), so tests/portal and tests/console share the
one Playwright instance: two would each start an event loop, and the second refuses to
run inside the first. The browser is Debian's Chromium (Playwright's own download is not
used). Each test gets a fresh browser context, so no cookie leaks from one to the next.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1100, "height": 800}


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless Chromium for the whole session."""
    playwright_api = pytest.importorskip("playwright.sync_api")
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (scripts/test installs it)")
    with playwright_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                              args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser context (no cookies) and its page, desktop-sized."""
    context = browser.new_context(viewport=DESKTOP)
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()


@pytest.fixture
def localised(browser: Any) -> Iterator[Callable[[str], Any]]:
    """`localised("de-DE")`: a page in a fresh, desktop-sized context with that locale,
    which sets Chromium's Accept-Language (and navigator.language) to it."""
    contexts: list[Any] = []

    def make(locale: str) -> Any:
        context = browser.new_context(viewport=DESKTOP, locale=locale)
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()
