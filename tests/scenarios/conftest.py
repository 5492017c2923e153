"""Scenario fixtures: one real server (SQLite) for every scenario, agents, a fault proxy.

The server hands out 60 s leases and asks for a heartbeat every second, so an agent
notices a fault within about a second while its seat still has a minute to run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.scenarios.common import ScenarioServer
from tests.support.agent import AgentProcess, close_all
from tests.support.api import Api
from tests.support.proxy import FaultProxy

LEASE_TTL_S = 60
HEARTBEAT_S = 1


@pytest.fixture(scope="session")
def scenario_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScenarioServer]:
    """The real server on SQLite: 60 s leases, a heartbeat every second."""
    server = ScenarioServer(tmp_path_factory.mktemp("scenario-server"), lease_ttl=LEASE_TTL_S,
                            heartbeat_interval=HEARTBEAT_S)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def scenario_api(scenario_server: ScenarioServer) -> Iterator[Api]:
    client = Api(scenario_server.url, scenario_server.admin_token)
    yield client
    client.close()


@pytest.fixture
def proxy(scenario_server: ScenarioServer) -> Iterator[FaultProxy]:
    """A fault proxy in front of the scenario server."""
    with FaultProxy(scenario_server.port) as fault_proxy:
        yield fault_proxy


AgentFactory = Callable[..., AgentProcess]


@pytest.fixture
def make_agent(tmp_path: Path) -> Iterator[AgentFactory]:
    """`make_agent(name, **config)`: an agent with its own home (a device of its own)."""
    made: list[AgentProcess] = []

    def make(name: str = "scenario-pc", **kw: Any) -> AgentProcess:
        kw.setdefault("device_name", name)
        agent = AgentProcess(tmp_path / name, **kw)
        made.append(agent)
        return agent

    yield make
    close_all(made)

