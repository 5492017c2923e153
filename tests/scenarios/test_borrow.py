"""Borrowing a seat for offline work, end to end: real server, real agent, the network cut."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from seatkeeper.config import load_config
from seatkeeper.core.wire import parse_time
from seatkeeper.runner import _release_before_quit
from seatkeeper.sdk.envelope import verify_envelope
from seatkeeper.service.credentials import CredentialStore
from seatkeeper.service.daemon import Agent
from seatkeeper.tray.view import local_day_time

from tests.scenarios.common import ScenarioServer, live_leases
from tests.scenarios.conftest import AgentFactory
from tests.support.api import Api, expect
from tests.support.local_api import SdkApp, raw
from tests.support.proxy import FaultProxy

DAY = 86400
SHORT_TTL_S = 4


def parse(rfc3339: str) -> dt.datetime:
    return dt.datetime.fromisoformat(rfc3339.replace("Z", "+00:00"))


@pytest.fixture(scope="module")
def short_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScenarioServer]:
    """A server whose unborrowed leases last 4 s: outliving that takes the borrow."""
    server = ScenarioServer(tmp_path_factory.mktemp("borrow-server"), lease_ttl=SHORT_TTL_S,
                            heartbeat_interval=1)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def short_api(short_server: ScenarioServer) -> Iterator[Api]:
    client = Api(short_server.url, short_server.admin_token)
    yield client
    client.close()


def test_a_borrowed_seat_survives_restarts_offline_until_borrowed_until(
        short_server: ScenarioServer, short_api: Api, make_agent: AgentFactory,
        tmp_path: Path) -> None:
    """Borrow, cut the network, restart the agent: still holding past the lease's ttl, and
    only until borrowed_until (capped by the license); then the seat runs out."""
    account, license = short_api.new_account(seats=1, max_borrow_s=25)
    with FaultProxy(short_server.port) as proxy:
        agent = make_agent("field-laptop", server_url=proxy.url)
        agent.login(account["email"], account["password"])
        agent.start()
        agent.wait_for("active")
        done = agent.cli("borrow", "--days", "3")
        assert done.returncode == 0, done.stderr
        assert "Seat borrowed for offline use until" in done.stdout
        assert "the license allows" in done.stdout  # 25 s, not 3 days
        borrowed = agent.status()
        until = borrowed["borrowed_until"]
        assert until is not None and borrowed["lease"]["expires_at"] == until
        assert borrowed["state"] == "active"
        assert [x["borrowed_until"] for x in live_leases(short_api, license["id"])] == [until]
        local = local_day_time(parse_time(until), None)  # the agent's zone is this one's
        assert f"Borrowed:  for offline use until {local}" in agent.cli("status").stdout
        assert f"Seat borrowed for offline use until {local}" in done.stdout

        proxy.cut()
        agent.wait_for("offline", timeout=10)
        assert agent.stop() == 0  # SIGTERM, as at shutdown: a borrowed seat is not released
        assert agent.status()["pending"] == []
        agent.start()
        time.sleep(SHORT_TTL_S + 1)  # past an unborrowed lease's life, still cut off
        held = agent.wait_for("offline", timeout=5)
        assert held["borrowed_until"] == until and f"borrowed until {until}" in held["message"]
        assert held["lease"]["lease_id"] == borrowed["lease"]["lease_id"]
        sibling = short_api.login(account["email"], account["password"])
        assert sibling.acquire().status_code == 409  # the borrowed seat still counts

        left = (parse(until) - dt.datetime.now(dt.UTC)).total_seconds()
        ran_out = agent.wait_for("acquiring", timeout=left + 5)
        assert time.time() >= parse(until).timestamp() - 1
        assert ran_out["borrowed_until"] is None and "ran out" in ran_out["message"]
        proxy.restore()
        again = agent.wait_for("active", timeout=15)
        assert again["borrowed_until"] is None
        assert again["lease"]["lease_id"] != borrowed["lease"]["lease_id"]


def test_return_while_offline_is_queued_across_a_crash_and_delivered_once(
        scenario_server: ScenarioServer, scenario_api: Api, proxy: FaultProxy,
        make_agent: AgentFactory) -> None:
    """`seatkeeper return` offline queues the release durably; it lands once, then a normal
    seat is taken again."""
    account, license = scenario_api.new_account(seats=2, max_borrow_s=7 * DAY)
    agent = make_agent("field-laptop", server_url=proxy.url)
    agent.login(account["email"], account["password"])
    agent.start()
    agent.wait_for("active")
    borrowed = agent.control("borrow", days=3)
    lease_id = borrowed["lease"]["lease_id"]
    assert parse(borrowed["borrowed_until"]) > dt.datetime.now(dt.UTC) + dt.timedelta(days=2.9)
    device_id = agent.session()["device_id"]

    proxy.cut()
    agent.wait_for("offline", timeout=10)
    done = agent.cli("return")
    assert done.returncode == 0, done.stderr
    assert "queued until the license server answers" in done.stdout
    returned = agent.status()
    assert returned["borrowed_until"] is None and returned["state"] == "released"
    assert [item["kind"] for item in returned["pending"]] == ["release"]

    agent.kill()
    assert [item["kind"] for item in agent.status()["pending"]] == ["release"]
    agent.start()
    time.sleep(1.5)  # a few tries against the cut proxy
    assert [x["lease_id"] for x in live_leases(scenario_api, license["id"])] == [lease_id]

    proxy.restore()
    again = agent.wait_for("active", timeout=20,
                           until=lambda s: s["lease"]["lease_id"] != lease_id)
    assert again["pending"] == [] and again["borrowed_until"] is None
    assert [x["lease_id"] for x in live_leases(scenario_api, license["id"])] \
        == [again["lease"]["lease_id"]]
    assert proxy.forwarded("DELETE", f"/v1/seats/{lease_id}") == 1
    assert [row["lease_id"] for row in scenario_server.audit(device_id, "release")] \
        == [lease_id]


def test_return_with_no_agent_running_is_queued_for_its_next_start(
        scenario_api: Api, proxy: FaultProxy, make_agent: AgentFactory) -> None:
    """`seatkeeper return` with the agent stopped and no network queues the release; the
    agent's next start delivers it once and takes a normal seat."""
    account, license = scenario_api.new_account(seats=1, max_borrow_s=7 * DAY)
    agent = make_agent("plane-laptop", server_url=proxy.url)
    agent.login(account["email"], account["password"])
    agent.start()
    agent.wait_for("active")
    lease_id = agent.control("borrow", days=1)["lease"]["lease_id"]
    assert agent.stop() == 0
    proxy.cut()
    done = agent.cli("return")
    assert done.returncode == 0, done.stderr
    assert "queued until the license server answers" in done.stdout
    assert [item["kind"] for item in agent.status()["pending"]] == ["release"]
    proxy.restore()
    agent.start()
    again = agent.wait_for("active", timeout=20,
                           until=lambda s: s["lease"]["lease_id"] != lease_id)
    assert again["pending"] == [] and again["borrowed_until"] is None
    assert proxy.forwarded("DELETE", f"/v1/seats/{lease_id}") == 1
    assert [x["lease_id"] for x in live_leases(scenario_api, license["id"])] \
        == [again["lease"]["lease_id"]]


def test_a_revoked_borrowed_seat_reaches_the_device_at_its_next_contact(
        scenario_api: Api, make_agent: AgentFactory, scenario_server: ScenarioServer) -> None:
    """The agent goes on heartbeating a borrowed seat: an administrator's revocation shows."""
    account, _ = scenario_api.new_account(seats=1, max_borrow_s=7 * DAY)
    agent = make_agent("office-pc", server_url=scenario_server.url)
    agent.login(account["email"], account["password"])
    agent.start()
    agent.wait_for("active")
    lease_id = agent.control("borrow", days=7)["lease"]["lease_id"]
    expect(scenario_api.admin_delete(f"/v1/admin/leases/{lease_id}"), 204)
    revoked = agent.wait_for("revoked", timeout=10)
    assert revoked["borrowed_until"] is None and revoked["revoked_by"] == "an administrator"


def test_borrow_refusals_say_why(scenario_api: Api, make_agent: AgentFactory,
                                 scenario_server: ScenarioServer) -> None:
    """A license that allows no borrowing, a return with nothing borrowed: one clear line."""
    account, license = scenario_api.new_account(seats=1)
    agent = make_agent("desk-pc", server_url=scenario_server.url)
    agent.login(account["email"], account["password"])
    agent.start()
    agent.wait_for("active")
    refused = agent.cli("borrow", "--days", "1")
    assert refused.returncode == 1
    assert f"{license['name']} does not allow borrowing" in refused.stderr
    assert "Traceback" not in refused.stderr
    nothing = agent.cli("return")
    assert nothing.returncode == 1 and "No seat is borrowed" in nothing.stderr
    bad = agent.cli("borrow", "--days", "0")
    assert bad.returncode == 2 and "must be 1 to 366 days" in bad.stderr
    assert agent.status()["state"] == "active"


def test_the_local_api_borrows_and_returns_and_watchers_hear_it(
        scenario_api: Api, make_agent: AgentFactory, scenario_server: ScenarioServer) -> None:
    """`borrow`/`return` over the socket: the seat object and the signed envelope carry
    borrowed_until, a watcher hears both changes, and the refusals have their codes."""
    account, license = scenario_api.new_account(seats=1, max_borrow_s=7 * DAY)
    agent = make_agent("app-pc", server_url=scenario_server.url)
    agent.login(account["email"], account["password"])
    agent.start()
    agent.wait_for("active")
    (key,) = scenario_api.get("/v1/keys").json()["keys"]
    with raw(agent) as conn, raw(agent) as watcher:
        assert {"borrow", "return"} <= set(conn.result("hello")["ops"])
        assert conn.call("return")["error"]["code"] == "NOT_BORROWED"
        assert conn.call("borrow", days="3")["error"]["code"] == "INVALID_REQUEST"
        watcher.send(b'{"op": "watch"}\n')
        assert watcher.answer()["result"]["event"] == "current"
        seat = conn.result("borrow", days=30)  # the license allows 7
        until = seat["borrowed_until"]
        assert parse(until) > dt.datetime.now(dt.UTC) + dt.timedelta(days=6.9)
        assert seat["holding"] and seat["holding_until"] == until
        lease = verify_envelope(seat["envelope"], key["public_key"])
        assert lease["borrowed_until"] == until == lease["expires_at"]
        heard = watcher.answer()["result"]
        assert heard["event"] == "changed" and heard["seat"]["borrowed_until"] == until
        back = conn.result("return")
        assert back["borrowed_until"] is None and back["state"] == "released"
        while True:  # the watcher hears the seat go back
            heard = watcher.answer()["result"]["seat"]
            if heard["borrowed_until"] is None:
                break
    again = agent.wait_for("active", timeout=15)
    assert again["lease"]["lease_id"] != seat["lease"]["lease_id"]
    assert [x["borrowed_until"] for x in live_leases(scenario_api, license["id"])] == [None]


def test_quit_keeps_a_borrowed_seat(tmp_path: Path, scenario_server: ScenarioServer,
                                    scenario_api: Api) -> None:
    """What Quit does after the tray closes: a borrowed seat is kept, not given back."""
    account, license = scenario_api.new_account(seats=1, max_borrow_s=DAY)
    home = tmp_path / "laptop"
    config = load_config({"SEATKEEPER_HOME": str(home)}, system_file=home / "none.toml")
    agent = Agent(config, credentials=CredentialStore(config.paths.data_dir, use_keyring=False))
    agent.login(account["email"], account["password"], scenario_server.url)
    agent.start()
    try:
        deadline = time.monotonic() + 10
        while agent.status().state.value != "active":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        until = agent.borrow(1).borrowed_until
        assert until is not None
        _release_before_quit(agent)
        assert agent.status().pending == () and agent.borrowed_until() == until
        (live,) = live_leases(scenario_api, license["id"])
        assert parse(live["borrowed_until"]) == until
    finally:
        agent.stop()
        agent.outbox.close()


def test_app_mode_never_idle_releases_a_borrowed_seat(
        short_server: ScenarioServer, short_api: Api, make_agent: AgentFactory) -> None:
    """`app` mode: borrow, close the application's session, restart offline: the seat is
    neither given back after app_idle_release_s nor dropped, and is held until
    borrowed_until (the user borrowed it for offline work)."""
    account, license = short_api.new_account(seats=1, max_borrow_s=12)
    with FaultProxy(short_server.port) as proxy:
        agent = make_agent("field-laptop", server_url=proxy.url, seat_mode="app",
                           app_idle_release_s=1)
        agent.login(account["email"], account["password"])
        agent.start()
        with SdkApp.start(agent, "PIX4Dmapper", "4.9.0") as app:
            assert app.opened["holding"] is True
            until = agent.control("borrow", days=1)["borrowed_until"]
            app.close()
        time.sleep(2.5)  # past the idle wait, online
        assert [x["borrowed_until"] for x in live_leases(short_api, license["id"])] == [until]
        assert agent.status()["state"] == "active"
        proxy.cut()
        agent.wait_for("offline", timeout=10)
        assert agent.stop() == 0
        agent.start()
        time.sleep(SHORT_TTL_S + 1)  # past the idle wait after a restart and a lease's ttl
        held = agent.wait_for("offline", timeout=5)
        assert held["borrowed_until"] == until and held["pending"] == []
        left = (parse(until) - dt.datetime.now(dt.UTC)).total_seconds()
        ended = agent.wait_for("released", timeout=left + 5)
        assert time.time() >= parse(until).timestamp() - 1
        assert ended["borrowed_until"] is None and ended["pending"] == []
