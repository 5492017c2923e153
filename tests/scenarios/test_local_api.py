"""The local API with real parts: the server, the agent daemon, applications as processes.

Applications are separate processes: the Python SDK (`tests/support/sdk_app.py`) and the
C example (`examples/seat_check.c`, compiled here with the system compiler).
"""

from __future__ import annotations

import base64
import contextlib
import subprocess
import time
from pathlib import Path

from tests.scenarios.common import ScenarioServer, live_leases
from tests.scenarios.conftest import AgentFactory
from tests.support.agent import AgentProcess
from tests.support.api import Api
from tests.support.local_api import Raw, SdkApp, address, compile_c_example, raw, wait_until


def _signed_in(make_agent: AgentFactory, api: Api, server: ScenarioServer, name: str,
               seats: int = 1, **config: object) -> tuple[AgentProcess, dict]:
    account, license = api.new_account(seats=seats)
    agent = make_agent(name, server_url=server.url, **config)
    agent.login(account["email"], account["password"])
    agent.start()
    return agent, license


def test_an_application_opens_and_closes_its_session(
        scenario_server: ScenarioServer, scenario_api: Api, make_agent: AgentFactory) -> None:
    """hello, then a session that the seat object lists until the application closes it
    (another connection's close_session of it answers NOT_FOUND)."""
    agent, _ = _signed_in(make_agent, scenario_api, scenario_server, "drafting-pc")
    agent.wait_for("active")
    with raw(agent) as conn:
        hello = conn.result("hello")
        assert hello["api"] == 1 and {"seat", "open_session", "watch"} <= set(hello["ops"])
        with SdkApp.start(agent, "PIX4Dmapper", "4.9.0", "2026-01-15") as app:
            assert app.opened["holding"] is True and app.opened["seat_mode"] == "login"
            seat = conn.result("seat")
            assert [(s["session_id"], s["app"], s["version"], s["pid"]) for s in seat["sessions"]] \
                == [(app.opened["opened"], "PIX4Dmapper", "4.9.0", app.proc.pid)]
            assert seat["holding"] and seat["holding_until"] == seat["lease"]["expires_at"]
            assert seat["borrowed_until"] is None and seat["local_api"] == address(agent)
            # Another connection cannot end the application's session.
            foreign = conn.call("close_session", session_id=app.opened["opened"])
            assert foreign["error"]["code"] == "NOT_FOUND"
            assert len(conn.result("seat")["sessions"]) == 1
            assert app.close() == {"closed": True}
        assert conn.result("seat")["sessions"] == []
        gone = conn.call("close_session", session_id=app.opened["opened"])
        assert gone["error"]["code"] == "NOT_FOUND" and gone["error"]["message"]


def test_bad_requests_get_their_code_and_the_connection_stays_usable(
        scenario_server: ScenarioServer, scenario_api: Api, make_agent: AgentFactory) -> None:
    """Not JSON, a bad version, an unknown op, bad arguments: each answered; then `seat` works."""
    agent, _ = _signed_in(make_agent, scenario_api, scenario_server, "typo-pc")
    with raw(agent) as conn:
        for bad in (b"hello\n", b"[1, 2]\n", b'{"v": 2, "op": "seat"}\n', b'{"v": 1}\n'):
            conn.send(bad)
            assert conn.answer()["error"]["code"] == "INVALID_REQUEST", bad
        assert conn.call("reboot")["error"]["code"] == "UNKNOWN_OP"
        assert conn.call("borrow", days=0)["error"]["code"] == "INVALID_REQUEST"
        for args in ({"app": ""}, {"app": "X", "version": "1", "released": "15/01/2026"},
                     {"app": "X", "version": "1", "pid": "me"}):
            answer = conn.call("open_session", **args)
            assert answer["error"]["code"] == "INVALID_REQUEST", args
        assert conn.result("seat")["state"] in ("acquiring", "active")


def test_a_line_over_one_mib_is_refused_without_holding_up_others(
        scenario_server: ScenarioServer, scenario_api: Api, make_agent: AgentFactory) -> None:
    """A client sending a huge line gets INVALID_REQUEST and is closed; others are answered."""
    agent, _ = _signed_in(make_agent, scenario_api, scenario_server, "huge-pc")
    with raw(agent) as huge, raw(agent) as other:
        huge.send(b'{"op": "seat", "args": {"x": "' + b"x" * ((1 << 20) - 100))  # no end yet
        started = time.monotonic()
        assert other.result("seat")["seat_mode"] == "login"
        assert time.monotonic() - started < 1.0
        with contextlib.suppress(BrokenPipeError):  # the agent may stop reading at 1 MiB
            huge.send(b"x" * 200 + b'"}}\n')
        answer = huge.answer()
        assert answer["error"]["code"] == "INVALID_REQUEST"
        assert "1 MiB" in answer["error"]["message"]
        assert huge.closed_by_agent()
        assert other.result("hello")["api"] == 1


def _line_of(size: int) -> bytes:
    """A `seat` request of exactly `size` bytes, without its newline."""
    head, tail = b'{"op": "seat", "pad": "', b'"}'
    return head + b"x" * (size - len(head) - len(tail)) + tail


def test_a_line_of_exactly_one_mib_is_answered_one_byte_more_is_not(
        scenario_server: ScenarioServer, scenario_api: Api, make_agent: AgentFactory) -> None:
    """The limit is 1 MiB without the newline: a request that long is answered and the
    connection stays; one byte longer is INVALID_REQUEST and the connection closes."""
    agent, _ = _signed_in(make_agent, scenario_api, scenario_server, "edge-pc")
    with raw(agent) as conn:
        conn.send(_line_of(1 << 20) + b"\n")
        assert conn.answer()["ok"] is True
        assert conn.result("hello")["api"] == 1
        with contextlib.suppress(BrokenPipeError):
            conn.send(_line_of((1 << 20) + 1) + b"\n")
        assert conn.answer()["error"]["code"] == "INVALID_REQUEST"
        assert conn.closed_by_agent()


def test_a_killed_application_gives_its_session_back(
        scenario_server: ScenarioServer, scenario_api: Api, make_agent: AgentFactory) -> None:
    """SIGKILL an application: its session ends with its connection."""
    agent, _ = _signed_in(make_agent, scenario_api, scenario_server, "crash-pc")
    with SdkApp.start(agent, "PIX4Dmapper", "4.9.0") as app, raw(agent) as conn:
        assert len(conn.result("seat")["sessions"]) == 1
        app.kill()
        assert wait_until(lambda: conn.result("seat")["sessions"] == [], timeout=5)


def test_app_mode_takes_the_seat_for_the_first_session_and_releases_it_after_the_last(
        scenario_server: ScenarioServer, scenario_api: Api, make_agent: AgentFactory) -> None:
    """`seat_mode = "app"`: no seat until an application opens a session; two share one
    seat; released on the server `app_idle_release_s` after the last one closed."""
    agent, license = _signed_in(make_agent, scenario_api, scenario_server, "app-pc",
                                seat_mode="app", app_idle_release_s=1)
    status = agent.wait_for("released")
    assert "No application is using the seat" in status["message"]
    time.sleep(1.5)  # more than a heartbeat interval: no seat is taken behind its back
    assert live_leases(scenario_api, license["id"]) == []

    with SdkApp.start(agent, "PIX4Dmapper", "4.9.0") as first:
        assert first.opened["holding"] is True  # the answer came once the server answered
        assert len(live_leases(scenario_api, license["id"])) == 1
        with SdkApp.start(agent, "PIX4Dmatic", "1.2.0") as second:
            assert second.opened["holding"] is True
            assert len(live_leases(scenario_api, license["id"])) == 1  # one seat, shared
            first.close()
            time.sleep(1.5)  # past app_idle_release_s: the second still uses the seat
            assert len(live_leases(scenario_api, license["id"])) == 1
            second.close()
    assert wait_until(lambda: live_leases(scenario_api, license["id"]) == [], timeout=10)
    assert agent.wait_for("released")["lease"] is None


def test_the_seat_taken_away_reaches_watch_within_a_heartbeat(
        scenario_server: ScenarioServer, scenario_api: Api, make_agent: AgentFactory) -> None:
    """Deactivated from another device: `changed` with holding false within one heartbeat."""
    account, _ = scenario_api.new_account(seats=2)
    phone = scenario_api.login(account["email"], account["password"], name="phone")
    assert phone.put("/v1/account/remote-deactivation", json={"enabled": True}).ok
    agent = make_agent("office-pc", server_url=scenario_server.url)
    agent.login(account["email"], account["password"])
    agent.start()
    agent.wait_for("active")
    with raw(agent, timeout=10) as watch:
        watch.send(b'{"v": 1, "op": "watch"}\n')
        current = watch.answer()["result"]
        assert current["event"] == "current" and current["seat"]["holding"] is True
        started = time.monotonic()
        deactivated = phone.post(f"/v1/devices/{agent.session()['device_id']}/deactivate")
        assert deactivated.status_code == 200, deactivated.text
        while True:
            event = watch.answer()["result"]
            assert event["event"] == "changed"
            if not event["seat"]["holding"]:
                break
        took = time.monotonic() - started
    assert event["seat"]["state"] == "revoked"
    # One heartbeat is 1 s give or take 10 %; the rest is the request and a loaded machine.
    assert took < 1.1 + 0.6, f"took {took:.2f} s for a 1 s heartbeat"


def test_the_envelope_verifies_with_the_servers_key_and_not_another(
        scenario_server: ScenarioServer, scenario_api: Api, make_agent: AgentFactory) -> None:
    """The seat's envelope verifies with the key the server publishes, fails with another."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
    from seatkeeper.sdk import EnvelopeInvalid, verify_envelope

    agent, _ = _signed_in(make_agent, scenario_api, scenario_server, "signed-pc")
    agent.wait_for("active")
    keys = scenario_api.get("/v1/keys").json()["keys"]
    published = keys[0]["public_key"]
    with raw(agent) as conn:
        # The acquire's lease carries the release token; the first renewal, made in the
        # same round, is the envelope an application may see.
        envelope = wait_until(lambda: conn.result("seat")["envelope"])
    lease = verify_envelope(envelope, published)
    assert lease["device"]["id"] == agent.session()["device_id"]
    assert "release_token" not in lease
    other = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw,
                                                                   PublicFormat.Raw)
    try:
        verify_envelope(envelope, base64.b64encode(other).decode())
    except EnvelopeInvalid as exc:
        assert "does not verify" in str(exc)
    else:
        raise AssertionError("an envelope verified with a key the server never had")
    with SdkApp.start(agent, "PIX4Dmapper", "4.9.0",
                      public_key=base64.b64encode(other).decode()) as app:
        assert app.opened["holding"] is False  # pinned to another key: not a seat it trusts


def test_the_c_example_opens_and_closes_a_session(
        scenario_server: ScenarioServer, scenario_api: Api, make_agent: AgentFactory,
        tmp_path: Path) -> None:
    """examples/seat_check.c, built with the system compiler, holds a session like any app."""
    binary = compile_c_example(tmp_path)
    agent, _ = _signed_in(make_agent, scenario_api, scenario_server, "c-pc")
    agent.wait_for("active")
    proc = subprocess.Popen([str(binary), address(agent)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdin is not None
        assert proc.stdout.readline().strip() == "hello api=1"
        opened = proc.stdout.readline().split()
        assert opened[0] == "session" and opened[2] == "holding=true", opened
        with raw(agent) as conn:
            assert [s["app"] for s in conn.result("seat")["sessions"]] == ["seat_check"]
            out, _ = proc.communicate("\n", timeout=10)
            assert out.strip() == "closed ok" and proc.returncode == 0
            assert conn.result("seat")["sessions"] == []
    finally:
        if proc.poll() is None:
            proc.kill()


def test_a_session_on_a_watching_connection_ends_when_it_hangs_up(
        scenario_server: ScenarioServer, scenario_api: Api, make_agent: AgentFactory) -> None:
    """A connection that opened a session and then watches gives the session back at once
    when it closes, with no change needed to notice."""
    agent, _ = _signed_in(make_agent, scenario_api, scenario_server, "watching-app-pc")
    with raw(agent) as other:
        app = raw(agent)
        app.result("open_session", app="PIX4Dmapper", version="4.9.0")
        app.send(b'{"v": 1, "op": "watch"}\n')
        assert app.answer()["result"]["event"] == "current"
        assert len(other.result("seat")["sessions"]) == 1
        app.close()
        assert wait_until(lambda: other.result("seat")["sessions"] == [], timeout=2)


def test_status_json_says_where_the_local_api_is_with_or_without_an_agent(
        scenario_server: ScenarioServer, make_agent: AgentFactory) -> None:
    """`seatkeeper status --json` has `local_api`, the socket an application connects to,
    also when no agent runs (where it would listen); the running agent answers there."""
    import json

    agent = make_agent("where-pc", server_url=scenario_server.url)
    stopped = json.loads(agent.cli("status", "--json").stdout)
    assert stopped["running"] is False and stopped["local_api"] == address(agent)
    agent.start()
    running = json.loads(agent.cli("status", "--json").stdout)
    assert running["running"] is True and running["local_api"] == address(agent)
    with contextlib.closing(Raw(running["local_api"])) as conn:
        assert conn.result("hello")["api"] == 1
