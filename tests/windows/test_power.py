"""Resume on Windows: a WM_POWERBROADCAST resume makes the agent heartbeat at once (under Wine).

Wine never sends power events itself; the test broadcasts PBT_APMRESUMEAUTOMATIC to the
agent's top-level windows, as Windows does on waking. The server asks for a heartbeat
only every minute, so a heartbeat within seconds is the resume's doing.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.scenarios.common import ScenarioServer
from tests.support.api import Api
from tests.windows.conftest import DesktopAgentFactory
from tests.windows.desktop import WineDesktop
from tests.windows.seats import lease_row, seated, wait_until

WM_POWERBROADCAST = 0x0218
PBT_APMRESUMEAUTOMATIC = 0x0012
SLOW_HEARTBEAT_S = 60


@pytest.fixture(scope="module")
def slow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScenarioServer]:
    server = ScenarioServer(tmp_path_factory.mktemp("win-sleep-server"), lease_ttl=600,
                            heartbeat_interval=SLOW_HEARTBEAT_S)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def slow_api(slow_server: ScenarioServer) -> Iterator[Api]:
    client = Api(slow_server.url, slow_server.admin_token)
    yield client
    client.close()


@pytest.mark.parametrize("headless", [pytest.param(False, id="tray"),
                                      pytest.param(True, id="headless")])
def test_resume_broadcast_heartbeats_at_once(
        desktop: WineDesktop, make_desktop_agent: DesktopAgentFactory,
        slow_server: ScenarioServer, slow_api: Api, headless: bool) -> None:
    """PBT_APMRESUMEAUTOMATIC: the lease is renewed within seconds, not in a minute."""
    agent, _, lease_id = seated(make_desktop_agent, slow_server, slow_api, "laptop",
                                headless=headless)
    before = lease_row(slow_server.db_path, lease_id)["last_heartbeat_at"]
    time.sleep(1.1)  # the server's clock counts seconds: let a renewal show
    assert lease_row(slow_server.db_path, lease_id)["last_heartbeat_at"] == before

    windows = [w for w in desktop.windows() if w.pid == agent.pid]
    assert windows, "the agent has no top-level window to hear the resume"
    for window in windows:
        desktop.post(window.hwnd, WM_POWERBROADCAST, PBT_APMRESUMEAUTOMATIC)
    wait_until(lambda: lease_row(slow_server.db_path, lease_id)["last_heartbeat_at"] != before,
               "a heartbeat after the resume", timeout=5)
    assert "resumed from sleep: heartbeat now" in agent.logs_text()
