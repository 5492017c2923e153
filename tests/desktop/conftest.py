"""Desktop fixtures: one virtual screen with a tray host, the real server, tray agents."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.desktop.screen import Desktop, TrayAgent, missing_tools
from tests.scenarios.common import ScenarioServer
from tests.support.agent import close_all
from tests.support.api import Api

TrayAgentFactory = Callable[..., TrayAgent]


@pytest.fixture(scope="module")
def desktop(artefacts_dir: Path) -> Iterator[Desktop]:
    """Xvfb with trayer docked at the top right; screenshots go to artefacts/screenshots/."""
    missing = missing_tools()
    if missing:
        pytest.skip(f"desktop tools not installed: {', '.join(missing)} "
                    "(scripts/test installs them when run as root)")
    with Desktop(artefacts_dir / "screenshots") as screen:
        yield screen


@pytest.fixture(scope="module")
def tray_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScenarioServer]:
    """The real server on SQLite: 60 s leases, a heartbeat every second."""
    server = ScenarioServer(tmp_path_factory.mktemp("tray-server"), lease_ttl=60,
                            heartbeat_interval=1)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def tray_api(tray_server: ScenarioServer) -> Iterator[Api]:
    client = Api(tray_server.url, tray_server.admin_token)
    yield client
    client.close()


@pytest.fixture
def make_tray_agent(desktop: Desktop, tmp_path: Path) -> Iterator[TrayAgentFactory]:
    """`make_tray_agent(name, **config)`: an agent with its tray on the desktop."""
    made: list[TrayAgent] = []

    def make(name: str = "survey-laptop", **kw: Any) -> TrayAgent:
        kw.setdefault("device_name", name)
        agent = TrayAgent(tmp_path / name, desktop, **kw)
        made.append(agent)
        return agent

    yield make
    close_all(list(made), timeout=10)
