"""Windows lane fixtures: the Windows CPython under Wine with this checkout's wheel installed."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.scenarios.common import ScenarioServer
from tests.support.api import Api
from tests.windows import wine
from tests.windows.agent import WindowsAgent
from tests.windows.desktop import WineDesktop, missing_tools
from tests.windows.desktop_agent import DesktopAgent


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The seatkeeper wheel built from the work tree."""
    return wine.build_wheel(tmp_path_factory.mktemp("wheel"))


@pytest.fixture(scope="session", autouse=True)
def windows_lane(request: pytest.FixtureRequest) -> Iterator[None]:
    """The prefix, with a wheel of this checkout installed and one wineserver for the whole
    session.

    Under CI the lane never skips: a prefix that is missing fails every test, saying why
    (before anything is built for it).
    """
    missing = wine.lane_missing()
    if missing:
        if os.environ.get("CI") or os.environ.get("SEATKEEPER_TEST_REQUIRE_TESTS") == "1":
            pytest.fail(f"the Windows lane cannot run: {missing}")
        pytest.skip(f"the Windows lane cannot run: {missing}")
    wine.install_checkout(request.getfixturevalue("wheel"))
    wine.start_wineserver()
    try:
        yield
    finally:
        wine.stop_wineserver()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScenarioServer]:
    """The real server on SQLite, for every test of this module: 60 s leases, 1 s heartbeat."""
    running = ScenarioServer(tmp_path_factory.mktemp("server"), lease_ttl=60,
                             heartbeat_interval=1)
    running.start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def api(server: ScenarioServer) -> Iterator[Api]:
    client = Api(server.url, server.admin_token)
    yield client
    client.close()


@pytest.fixture
def make_agent(tmp_path: Path, server: ScenarioServer) -> Iterator[Any]:
    """`make_agent(name)`: a Windows agent with its own home (a device of its own)."""
    made: list[WindowsAgent] = []

    def make(name: str = "windows-pc", **kw: Any) -> WindowsAgent:
        agent = WindowsAgent(tmp_path / name, server_url=server.url, device_name=name, **kw)
        made.append(agent)
        return agent

    yield make
    problems = []
    for agent in made:
        try:
            agent.close()
        except AssertionError as exc:
            problems.append(str(exc))
    assert not problems, "\n".join(problems)


@pytest.fixture(scope="module")
def desktop(artefacts_dir: Path) -> Iterator[WineDesktop]:
    """Xvfb with Wine's explorer desktop (taskbar and notification area) on it."""
    missing = missing_tools()
    if missing:
        pytest.fail(f"the Windows desktop tests need {', '.join(missing)} "
                    "(./scripts/test installs them when run as root)")
    with WineDesktop(artefacts_dir / "screenshots" / "windows") as screen:
        yield screen


DesktopAgentFactory = Callable[..., DesktopAgent]


@pytest.fixture
def make_desktop_agent(desktop: WineDesktop, tmp_path: Path) -> Iterator[DesktopAgentFactory]:
    """`make_desktop_agent(name, **config)`: an agent under Wine, its windows on `desktop`."""
    made: list[DesktopAgent] = []

    def make(name: str = "desk-pc", **kw: Any) -> DesktopAgent:
        kw.setdefault("device_name", name)
        agent = DesktopAgent(tmp_path / name, desktop.env, **kw)
        made.append(agent)
        return agent

    yield make
    for agent in made:
        agent.stop(timeout=10)
