"""The local API on Windows: an application using seatkeeper.sdk over the agent's named pipe.

The agent and the application are both the Windows CPython under Wine; the server runs
on Linux. The SDK opens the pipe with the standard library alone.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.scenarios.common import ScenarioServer
from tests.support.api import Api
from tests.windows import wine
from tests.windows.agent import WindowsAgent

PROBE = Path(__file__).with_name("sdk_probe.py")


def test_an_application_holds_a_session_over_the_pipe(
        tmp_path_factory: pytest.TempPathFactory, server: ScenarioServer, api: Api) -> None:
    """The SDK finds the agent's pipe by the agent's rule (and its own), opens a session
    that the agent lists, holds the seat, and closes it at once."""
    account, _ = api.new_account(seats=1)
    agent = WindowsAgent(tmp_path_factory.mktemp("sdk"), server_url=server.url)
    agent.login(account["email"], account["password"])
    agent.start()
    try:
        pipe = agent.wait_for("active")["local_api"]
        done = wine.run_python([wine.windows_path(PROBE)], env=agent.env)
        assert done.returncode == 0, done.stdout
        result = json.loads(done.stdout.strip().splitlines()[-1])
    finally:
        agent.close()
    assert result["address"] == result["own_rule"] == pipe
    assert result["holding"] is True
    assert result["sessions"] == ["PIX4Dmapper"]
    assert result["after"] == []
    assert result["close_s"] < 2.0, result
