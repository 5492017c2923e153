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
from tests.windows.desktop import WineDesktop, missing_tools
from tests.windows.winagent import WindowsAgent


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The seatkeeper wheel built from the work tree."""
    return wine.build_wheel(tmp_path_factory.mktemp("wheel"))


@pytest.fixture(scope="session", autouse=True)
def windows_lane(wheel: Path) -> Iterator[None]:
    """The prefix, with this checkout installed and one wineserver for the whole session.

    Under CI the lane never skips: a prefix that is missing fails every test, saying why.
    """
    missing = wine.lane_missing()
    if missing:
        if os.environ.get("CI") or os.environ.get("SEATKEEPER_TEST_REQUIRE_TESTS") == "1":
            pytest.fail(f"the Windows lane cannot run: {missing}")
        pytest.skip(f"the Windows lane cannot run: {missing}")
    wine.install_checkout(wheel)
    wine.start_wineserver()
    try:
        yield
    finally:
        wine.stop_wineserver()


@pytest.fixture(scope="module")
def desktop(artefacts_dir: Path) -> Iterator[WineDesktop]:
    """Xvfb with Wine's explorer desktop (taskbar and notification area) on it."""
    missing = missing_tools()
    if missing:
        pytest.fail(f"the Windows desktop tests need {', '.join(missing)} "
                    "(./scripts/test installs them when run as root)")
    with WineDesktop(artefacts_dir / "screenshots" / "windows") as screen:
        yield screen


@pytest.fixture(scope="module")
def win_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScenarioServer]:
    """The real server on SQLite: 60 s leases, a heartbeat every second."""
    server = ScenarioServer(tmp_path_factory.mktemp("win-server"), lease_ttl=60,
                            heartbeat_interval=1)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def win_api(win_server: ScenarioServer) -> Iterator[Api]:
    client = Api(win_server.url, win_server.admin_token)
    yield client
    client.close()


WindowsAgentFactory = Callable[..., WindowsAgent]


@pytest.fixture
def make_windows_agent(desktop: WineDesktop, tmp_path: Path) -> Iterator[WindowsAgentFactory]:
    """`make_windows_agent(name, **config)`: an agent under Wine, its windows on `desktop`."""
    made: list[WindowsAgent] = []

    def make(name: str = "desk-pc", **kw: Any) -> WindowsAgent:
        kw.setdefault("device_name", name)
        agent = WindowsAgent(tmp_path / name, desktop.env, **kw)
        made.append(agent)
        return agent

    yield make
    for agent in made:
        agent.stop(timeout=10)
