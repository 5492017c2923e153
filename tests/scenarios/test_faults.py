"""Fault matrix: each way the network or the server can fail, as the person at the agent sees it.

One agent holds a seat through a fault proxy for the whole module. Each test breaks
the path one way, waits for the state a person should see (with a message that says
what is going on), checks the daemon is alive and answering, then mends the path and
waits for the seat to be `active` again, so the next test starts from a held seat.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.scenarios.common import ScenarioServer
from tests.support.agent import AgentProcess
from tests.support.api import Api
from tests.support.proxy import FaultProxy

READ_TIMEOUT_S = 15  # the agent's HTTP read timeout (agent/service/client.py)


@pytest.fixture(scope="module")
def module_proxy(scenario_server: ScenarioServer) -> Iterator[FaultProxy]:
    with FaultProxy(scenario_server.port) as proxy:
        yield proxy


@pytest.fixture(scope="module")
def held(scenario_api: Api, module_proxy: FaultProxy,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[AgentProcess]:
    """An agent holding a seat through `module_proxy` (the same one for every fault)."""
    account, _license = scenario_api.new_account(seats=1)
    with AgentProcess(tmp_path_factory.mktemp("faults") / "site-pc", device_name="site-pc",
                      server_url=module_proxy.url) as agent:
        agent.login(account["email"], account["password"])
        agent.start()
        agent.wait_for("active")
        yield agent


@pytest.fixture
def agent(held: AgentProcess, module_proxy: FaultProxy) -> Iterator[AgentProcess]:
    """The module's agent, `active` on entry; after the test, the path mended and active again."""
    module_proxy.restore()
    held.wait_for("active", timeout=15)
    yield held
    module_proxy.cut()  # drop what the fault left hanging (a stalled request), as a new
    module_proxy.restore()  # network would; then forward again
    recovered = held.wait_for("active", timeout=15)
    assert recovered["message"] is None, recovered


def offline_and_alive(agent: AgentProcess, cause: str, timeout: float = 10) -> dict[str, Any]:
    """Wait for `offline`: the seat shown as held, `cause` in the message, the daemon answering.

    A request in flight when the fault starts may see a reset first; the retry then
    meets the fault itself, so wait for the message to name `cause`.
    """
    status = agent.wait_for("offline", timeout=timeout,
                            until=lambda status: cause in (status["message"] or ""))
    assert status["lease"] and status["lease"]["expires_at"], status
    assert f"seat held until {status['lease']['expires_at']}" in status["message"], status
    assert status["error"] is None
    assert agent.alive
    time.sleep(1.0)  # retries and probes keep failing: still no crash, still the same
    again = agent.status()
    assert again["state"] == "offline" and cause in again["message"] and agent.alive, again
    return again


def test_connection_refused_shows_offline_with_the_seat_kept(
        agent: AgentProcess, module_proxy: FaultProxy) -> None:
    """Nothing listening at the server address: `offline`, seat held until its expiry."""
    module_proxy.cut()
    offline_and_alive(agent, "connection refused")


@pytest.mark.parametrize("fault", ["reset_on_request", "reset_mid_response"])
def test_connection_reset_shows_offline(
        agent: AgentProcess, module_proxy: FaultProxy, fault: str) -> None:
    """A connection reset (before, or half-way through, the answer): `offline`, no crash."""
    if fault == "reset_on_request":
        module_proxy.reset()
    else:
        module_proxy.truncate()
    offline_and_alive(agent, "broke off")


def test_stalled_server_times_out_to_offline(
        agent: AgentProcess, module_proxy: FaultProxy) -> None:
    """A server that accepts but never answers: the read timeout fires, `offline` follows."""
    module_proxy.stall()
    started = time.monotonic()
    offline_and_alive(agent, f"did not answer within {READ_TIMEOUT_S} s",
                      timeout=READ_TIMEOUT_S + 2 + 5)  # + heartbeat gap + margin
    assert time.monotonic() - started < READ_TIMEOUT_S + 7


@pytest.mark.parametrize("status, body, cause", [
    (500, b"Internal Server Error", "HTTP 500"),
    (503, b"<html><body>Service Unavailable</body></html>", "HTTP 503"),
    (503, json.dumps({"error": {"code": "UNAVAILABLE", "message": "Down for maintenance.",
                                "details": {}}}).encode(), "Down for maintenance."),
], ids=["500", "503-proxy-page", "503-UNAVAILABLE"])
def test_server_errors_show_offline(agent: AgentProcess, module_proxy: FaultProxy,
                                    status: int, body: bytes, cause: str) -> None:
    """HTTP 500 and 503 (a bare page or the protocol's UNAVAILABLE): `offline`, retried."""
    module_proxy.respond(status, body, content_type="text/html" if body[:1] != b"{"
                         else "application/json")
    offline_and_alive(agent, cause)


def test_garbage_body_shows_offline(agent: AgentProcess, module_proxy: FaultProxy) -> None:
    """A 200 whose body is not JSON (a captive portal, a wrong server): `offline`, no crash."""
    module_proxy.respond(200, b"<html>Welcome to Airport Wi-Fi</html>", content_type="text/html")
    offline_and_alive(agent, "not JSON")

