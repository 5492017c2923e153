"""Portal fixtures: servers with quick heartbeats and short-lived codes, agents.

The browser (`browser`, and `page`: a fresh context per test) is tests/support/browser.py's.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.agent import AgentProcess, close_all
from tests.support.api import Api
from tests.support.browser import PHONE
from tests.support.procs import REPO_ROOT, ServerProcess

pytest.importorskip("playwright.sync_api")
__all__ = ["PHONE"]  # the tests' phone-sized screen, from tests/support/browser.py


def _server(db_url: str, home: Path, key: str | Path, admin: str, code_ttl: int) -> ServerProcess:
    return ServerProcess(db_url, home=home, signing_key_path=Path(key), lease_ttl=60,
                         heartbeat_interval=1, admin_token=admin,
                         extra_args=["--device-code-ttl", str(code_ttl),
                                     "--device-poll-interval", "1"])


@pytest.fixture(scope="session")
def portal_server(server: ServerProcess, db_url: str, backend_dir: Path,
                  signing_key_path: Path) -> Iterator[ServerProcess]:
    """A server on the session's database: 60 s leases, a heartbeat and a poll every second."""
    with _server(db_url, backend_dir / "portal-server-home", signing_key_path,
                 server.admin_token, 120) as proc:
        yield proc


@pytest.fixture(scope="session")
def expiring_server(server: ServerProcess, db_url: str, backend_dir: Path,
                    signing_key_path: Path) -> Iterator[ServerProcess]:
    """The same, but a browser login's code lives 3 seconds."""
    with _server(db_url, backend_dir / "expiring-server-home", signing_key_path,
                 server.admin_token, 3) as proc:
        yield proc


@pytest.fixture(scope="session")
def portal_api(portal_server: ServerProcess) -> Iterator[Api]:
    client = Api(portal_server.url, portal_server.admin_token)
    yield client
    client.close()


@pytest.fixture(scope="session")
def screenshots(artefacts_dir: Path) -> Callable[[Any, str], Path]:
    """`shoot(page, name)`: a full-page PNG in artefacts/screenshots/."""
    folder = artefacts_dir / "screenshots"
    folder.mkdir(exist_ok=True)

    def shoot(page: Any, name: str) -> Path:
        path = folder / f"portal-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return shoot


def sign_in(page: Any, url: str, account: dict[str, Any]) -> None:
    """Sign in on the portal's form, as a person would."""
    if "/portal/sign-in" not in page.url:
        page.goto(f"{url}/portal/sign-in")
    page.get_by_label("Email").fill(account["email"])
    page.get_by_label("Password").fill(account["password"])
    page.get_by_role("button", name="Sign in").click()


@pytest.fixture
def make_agent(tmp_path: Path) -> Iterator[Callable[..., AgentProcess]]:
    """`make_agent(server_url, name)`: an agent with its own home, stopped afterwards."""
    made: list[AgentProcess] = []

    def make(server_url: str, name: str = "portal-pc") -> AgentProcess:
        agent = AgentProcess(tmp_path / name, server_url=server_url, device_name=name)
        made.append(agent)
        return agent

    yield make
    close_all(made)


class BrowserLogin:
    """`seatkeeper login --browser --no-open` (or `login ARGS`) running; its printed code and
    address."""

    URL = re.compile(r"\(or open (\S+)\)")

    def __init__(self, agent: AgentProcess,
                 args: tuple[str, ...] = ("--browser", "--no-open")) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "seatkeeper", "login", *args], cwd=REPO_ROOT,
            env=agent.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        self.first = self.proc.stdout.readline() + self.proc.stdout.readline()
        found = self.URL.search(self.first)
        assert found, f"no address printed: {self.first!r}"
        self.url = found.group(1)
        self.code = self.url.rsplit("=", 1)[1]

    def finish(self, timeout: float = 30) -> tuple[int, str, str]:
        out, err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, self.first + out, err

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


def wait_until(predicate: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)
