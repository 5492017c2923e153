"""Console fixtures: a server on a database of its own, its administrator, Chromium, agents.

The browser and its fresh context per test (`page`) are tests/support/browser.py's, the
agents (`make_agent`) the portal's (tests/portal/conftest.py). The console's server has a
database of its own, so the wrong passwords these tests type never count against the
portal's tests (the limits are counted in the database, per address, and Chromium always
comes from 127.0.0.1).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import pytest

from tests.portal.conftest import make_agent
from tests.support.api import Api
from tests.support.browser import PHONE
from tests.support.console import create_admin
from tests.support.pg import fresh_postgres_database
from tests.support.procs import ServerProcess

__all__ = ["make_agent"]


def fresh_database(backend: str, folder: Path) -> AbstractContextManager[str]:
    return (nullcontext(f"sqlite:///{folder / 'console.db'}") if backend == "sqlite"
            else fresh_postgres_database())


@pytest.fixture(scope="session")
def console_db(backend: str, backend_dir: Path) -> Iterator[str]:
    with fresh_database(backend, backend_dir) as url:
        yield url


@pytest.fixture(scope="session")
def console_server(console_db: str, backend_dir: Path) -> Iterator[ServerProcess]:
    """60 s leases and a heartbeat every second, so a revocation shows within seconds."""
    with ServerProcess(console_db, home=backend_dir / "console-server-home",
                       signing_key_path=backend_dir / "console-key.pem", lease_ttl=60,
                       heartbeat_interval=1) as proc:
        yield proc


@pytest.fixture(scope="session")
def console_api(console_server: ServerProcess) -> Iterator[Api]:
    client = Api(console_server.url, console_server.admin_token)
    yield client
    client.close()


@pytest.fixture(scope="session")
def admin(console_server: ServerProcess, console_db: str, backend_dir: Path) -> dict[str, str]:
    """The administrator, made as an operator makes the first one (the CLI)."""
    return create_admin(console_db, backend_dir / "console-cli-home",
                        backend_dir / "console-key.pem", email="ops@vendor.example")


@pytest.fixture(scope="session")
def shoot(artefacts_dir: Path) -> Callable[[Any, str], Path]:
    """`shoot(page, name)`: a full-page PNG in artefacts/screenshots/console-<name>.png."""
    folder = artefacts_dir / "screenshots"
    folder.mkdir(exist_ok=True)

    def take(page: Any, name: str) -> Path:
        path = folder / f"console-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


def sign_in(page: Any, url: str, who: dict[str, str]) -> None:
    """Sign in on the console's form, as an administrator would."""
    page.goto(f"{url}/admin/sign-in")
    page.get_by_label("Email").fill(who["email"])
    page.get_by_label("Password").fill(who["password"])
    page.get_by_role("button", name="Sign in").click()


# Elements whose content is wider than they are (a long email in a heading, say).
TOO_WIDE = """[...document.querySelectorAll('main *')]
  .filter(e => e.scrollWidth > e.clientWidth + 1 && getComputedStyle(e).overflowX === 'visible'
               && !e.classList.contains('sr-only'))
  .map(e => `${e.tagName} ${e.scrollWidth}/${e.clientWidth}: ${e.textContent.slice(0, 50)}`)
  .join('\\n')"""


def fits_a_phone(browser: Any, page: Any, url: str, shoot: Callable[[Any, str], Path],
                 name: str, locale: str | None = None) -> None:
    """The page at `url`, on a phone-sized screen with this browser's cookies (and `locale`,
    whose longer words must fit too): nothing wider than the screen, so nothing to scroll
    sideways."""
    phone = browser.new_context(viewport=PHONE, storage_state=page.context.storage_state(),
                                **({"locale": locale} if locale else {}))
    try:
        small = phone.new_page()
        small.goto(url)
        width = small.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], (f"{url} is {width} px wide on a phone; too wide:\n"
                                         + small.evaluate(TOO_WIDE))
        shoot(small, f"{name}-phone")
    finally:
        phone.close()
