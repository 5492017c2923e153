"""The local API under a misbehaving client, and `watch` when a held seat runs out offline."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.scenarios.common import ScenarioServer
from tests.scenarios.conftest import AgentFactory
from tests.support.api import Api
from tests.support.local_api import raw
from tests.support.proxy import FaultProxy

SHORT_LEASE_S = 4


def test_a_watcher_that_stops_reading_is_dropped_and_blocks_nobody(
        scenario_server: ScenarioServer, scenario_api: Api, make_agent: AgentFactory) -> None:
    """A watch client that never reads, while the seat changes hundreds of times: the agent
    drops it; another watcher hears every change up to the last; `seat` stays quick."""
    account, _ = scenario_api.new_account(seats=1)
    agent = make_agent("busy-pc", server_url=scenario_server.url)
    agent.login(account["email"], account["password"])
    agent.start()
    agent.wait_for("active")
    seen: list[dict[str, Any]] = []
    with raw(agent) as stalled, raw(agent, timeout=30) as good, raw(agent) as churn, \
            raw(agent) as asker:
        for conn in (stalled, good):
            conn.send(b'{"v": 1, "op": "watch"}\n')
        assert good.answer()["result"]["event"] == "current"

        def read_good() -> None:
            while True:
                line = good.reader.readline()
                if not line:
                    return
                seen.append(json.loads(line)["result"])
                if seen[-1]["seat"]["sessions"] == [] and len(seen) > 100:
                    return

        reader = threading.Thread(target=read_good, daemon=True)
        reader.start()
        # Big seat objects (50 sessions with long names) fill the stalled client's buffers.
        kept = [churn.result("open_session", app="A" * 100, version="V" * 50)["session_id"]
                for _ in range(50)]
        slowest = 0.0
        for _ in range(150):
            session = churn.result("open_session", app="B" * 100, version="1")["session_id"]
            churn.result("close_session", session_id=session)
            started = time.monotonic()
            asker.result("seat")
            slowest = max(slowest, time.monotonic() - started)
        for session in kept:
            churn.result("close_session", session_id=session)
        reader.join(timeout=20)
        assert not reader.is_alive(), "the good watcher did not hear the last change"
        assert seen[-1]["event"] == "changed" and seen[-1]["seat"]["sessions"] == []
        assert slowest < 0.5, f"`seat` took {slowest:.2f} s while a watcher stalled"
        assert "a watch client stopped reading; it is dropped" in agent.logs_text()
        # Reading now drains what the kernel still buffers; then the agent's end is closed.
        stalled.sock.settimeout(20)
        while stalled.reader.readline():
            pass


@pytest.fixture
def short_lease_server(tmp_path: Path) -> Iterator[ScenarioServer]:
    """A server of its own whose leases last SHORT_LEASE_S seconds."""
    server = ScenarioServer(tmp_path / "short", lease_ttl=SHORT_LEASE_S, heartbeat_interval=1)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_a_held_seat_running_out_offline_reaches_watch_within_a_second(
        short_lease_server: ScenarioServer, make_agent: AgentFactory) -> None:
    """Offline, the seat is held until its lease ends by the server's clock; within 1 s of
    that, watch says `changed` with holding false."""
    api = Api(short_lease_server.url, short_lease_server.admin_token)
    account, _ = api.new_account(seats=1)
    with FaultProxy(short_lease_server.port) as proxy:
        agent = make_agent("short-pc", server_url=proxy.url)
        agent.login(account["email"], account["password"])
        agent.start()
        agent.wait_for("active")
        with raw(agent, timeout=SHORT_LEASE_S + 5) as watch:
            watch.send(b'{"v": 1, "op": "watch"}\n')
            assert watch.answer()["result"]["seat"]["holding"] is True
            proxy.cut()
            while True:
                seat = watch.answer()["result"]["seat"]
                if seat["state"] == "offline":
                    until = seat["holding_until"]
                    break
            while seat["holding"]:
                seat = watch.answer()["result"]["seat"]
            heard = time.time()
    api.close()
    ends = _epoch(until)
    assert seat["state"] == "acquiring" and "ran out" in seat["message"]
    # The server's times are whole seconds, so the agent knows the server's clock to half a
    # second (plus half a round trip): "within 1 s of the end" holds on either side of it.
    assert ends - 0.75 <= heard <= ends + 1.0, f"heard {heard - ends:+.2f} s after the end"


def _epoch(rfc3339: str) -> float:
    import datetime as dt

    return dt.datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp()


def test_a_flood_of_connections_is_refused_past_the_limit_and_the_others_keep_working(
        scenario_server: ScenarioServer, scenario_api: Api, make_agent: AgentFactory) -> None:
    """MAX_CONNECTIONS clients connected: one more gets a clear error and is closed; the
    connected ones are still answered, and once some leave a new client is served."""
    from seatkeeper.service.control import MAX_CONNECTIONS

    account, _ = scenario_api.new_account(seats=1)
    agent = make_agent("flooded-pc", server_url=scenario_server.url)
    agent.login(account["email"], account["password"])
    agent.start()
    agent.wait_for("active")
    flood = []
    try:
        for _ in range(MAX_CONNECTIONS):
            flood.append(raw(agent))
            assert flood[-1].result("hello")["api"] == 1
        with raw(agent) as late:
            refused = late.call("seat")
            assert refused["error"]["code"] == "RATE_LIMITED"
            assert f"{MAX_CONNECTIONS} connections" in refused["error"]["message"]
            assert late.closed_by_agent()
        assert flood[0].result("seat")["state"] == "active"
        for conn in flood[:10]:
            conn.close()
        time.sleep(0.2)  # the agent sees them go
        with raw(agent) as later:
            assert later.result("seat")["holding"] is True
    finally:
        for conn in flood:
            conn.close()
