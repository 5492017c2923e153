"""A lease is trusted only for this device and account, and only until the server's clock
says it ends, however the local clock is turned back (while running or across a restart)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from seatkeeper.core.wire import format_time, parse_time

from tests.agent.faultserver import reply
from tests.agent.leases import Signer
from tests.scenarios.common import ScenarioServer
from tests.scenarios.conftest import AgentFactory
from tests.scenarios.test_trust import fake_server, libfaketime
from tests.support.api import Api
from tests.support.proxy import FaultProxy

SHORT_TTL_S = 5


def test_a_lease_copied_from_another_device_is_not_trusted(
        scenario_server: ScenarioServer, scenario_api: Api, proxy: FaultProxy,
        make_agent: AgentFactory) -> None:
    """Another device's valid, signed lease pasted into this one's session: offline, this
    device does not claim that seat (it waits to ask for its own)."""
    account, _license = scenario_api.new_account(seats=2)
    donor = make_agent("donor-pc", server_url=scenario_server.url)
    thief = make_agent("thief-pc", server_url=proxy.url)
    for agent in (donor, thief):
        agent.login(account["email"], account["password"])
        agent.start()
        agent.wait_for("active")
        agent.kill()  # keep each lease on disk, as a crash would
    stolen = donor.session()
    session = thief.session()
    assert stolen["lease"]["lease"]["device"]["id"] != session["device_id"]
    (thief.data_dir / "session.json").write_text(json.dumps(
        {**session, "lease": stolen["lease"], "release_token": stolen["release_token"]}))

    proxy.cut()
    assert thief.status()["lease"] is None  # the CLI, reading the files, does not trust it
    thief.start()
    status = thief.wait_for("acquiring")
    assert status["lease"] is None and status["license"] is None, status
    assert "not this device" in thief.logs_text()


def test_a_served_lease_for_another_device_is_refused(make_agent: AgentFactory) -> None:
    """The server (or whoever answers for it) hands over a lease naming another device:
    `error`, saying so; the seat is not shown as held."""
    signer = Signer("k1")
    server, lease = fake_server(pinned=signer, signs_leases=signer)
    foreign = {**lease, "device": {"id": "dev-2", "name": "someone-else"}}
    server.routes["/v1/seats"] = reply(201, signer.sign(foreign))
    with server:
        agent = make_agent("survey-laptop", server_url=server.url)
        agent.login("a@example.test", "pw-not-checked")
        agent.start()
        status = agent.wait_for("error")
        assert "another device" in status["error"], status
        assert status["lease"] is None and status["license"] is None


@pytest.fixture
def short_server(tmp_path: Path) -> Iterator[ScenarioServer]:
    with ScenarioServer(tmp_path / "short-server", lease_ttl=SHORT_TTL_S,
                        heartbeat_interval=1) as server:
        yield server  # type: ignore[misc]


@pytest.mark.parametrize("when", ["while running", "across a restart"])
def test_a_clock_turned_back_while_offline_does_not_stretch_the_lease(
        when: str, short_server: ScenarioServer, make_agent: AgentFactory,
        tmp_path: Path) -> None:
    """Offline, the local clock set a day back: the seat still runs out on time."""
    library = libfaketime()
    if library is None:
        pytest.fail("needs libfaketime (Debian package faketime; scripts/test installs it)")
    clock_file = tmp_path / "faketime"
    clock_file.write_text("+0\n")
    api = Api(short_server.url, short_server.admin_token)
    try:
        account, _license = api.new_account(seats=1)
    finally:
        api.close()
    with FaultProxy(short_server.port) as proxy:
        agent = make_agent("kiosk", server_url=proxy.url, release_on_shutdown=False,
                           env={"LD_PRELOAD": library, "FAKETIME_DONT_FAKE_MONOTONIC": "1",
                                "FAKETIME_TIMESTAMP_FILE": str(clock_file),
                                "FAKETIME_NO_CACHE": "1"})
        agent.login(account["email"], account["password"])
        agent.start()
        active = agent.wait_for("active")
        expires = parse_time(active["lease"]["expires_at"])
        proxy.cut()
        agent.wait_for("offline", timeout=5)
        if when == "across a restart":
            assert agent.stop() == 0
        clock_file.write_text("-1d\n")
        if when == "across a restart":
            agent.start()
        seen = agent.status()
        left = (expires - dt.datetime.now(dt.UTC)).total_seconds()
        assert left > 0, "the lease ran out before the clock was turned back"
        ran_out = agent.wait_for("acquiring", timeout=left + 3)
        assert "ran out" in ran_out["message"], (seen, ran_out)
        assert format_time(expires) in ran_out["message"]
