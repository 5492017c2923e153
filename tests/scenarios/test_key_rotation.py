"""Signing-key rotation as a deployed agent and application live it: nothing to do, and
nothing a forged key set can use."""

from __future__ import annotations

import base64
import datetime as dt
import json
import queue
import sqlite3
import time
from pathlib import Path
from typing import Any

from seatkeeper.core.wire import format_time
from seatkeeper_server.signing import endorsement_statement

from tests.agent.faultserver import reply
from tests.agent.leases import Signer
from tests.scenarios.common import ScenarioServer
from tests.scenarios.conftest import AgentFactory
from tests.scenarios.test_trust import fake_server
from tests.support.api import Api
from tests.support.keys import by_status, endorsed, keys_cli, listing, signed_by, wait_listing
from tests.support.local_api import SdkApp
from tests.support.proxy import FaultProxy

TTL_S = 6  # the shortest lease TTL a rotation waits out, and how long leases last here


def test_a_rotation_reaches_agent_and_application_with_no_restart_and_no_login(
        tmp_path: Path, make_agent: AgentFactory) -> None:
    """`keys rotate`: the next key is published, endorsed by the current one; after the TTL
    the server signs with it; the agent follows it by the endorsement and stays `active`
    throughout, same login, same lease; an application pinned to the OLD key still holds;
    the retired key leaves /v1/keys once its leases have ended."""
    server = ScenarioServer(tmp_path / "server", lease_ttl=TTL_S, heartbeat_interval=1)
    with server:
        api = Api(server.url, server.admin_token)
        account, _license = api.new_account(seats=1)
        (old,) = listing(server.url)
        assert (old["status"], old["endorsement"]) == ("current", None)
        agent = make_agent("rotating-pc", server_url=server.url)
        agent.login(account["email"], account["password"])
        agent.start()
        active = agent.wait_for("active")
        token, device_id = agent.device_token(), agent.session()["device_id"]
        with SdkApp.start(agent, "PIX4Dmapper", "4.9.0", None, old["public_key"]) as app:
            assert app.opened["holding"] is True

            done = keys_cli(server, "rotate", "--in", str(TTL_S))
            assert done.returncode == 0, done.stderr
            assert "published as next" in done.stdout and old["kid"] in done.stdout
            keys = wait_listing(server.url, lambda found: "next" in by_status(found))
            (upcoming,) = [key for key in keys if key["status"] == "next"]
            assert upcoming["endorsement"]["kid"] == old["kid"]
            assert endorsed(upcoming, by=old["public_key"])
            time.sleep(1.5)  # a heartbeat or so after the rotation: still the old key's
            assert agent.session()["lease"]["signature"]["kid"] == old["kid"]

            seen: set[tuple[str, Any]] = set()
            deadline = time.monotonic() + TTL_S + 15
            while True:
                status = agent.status()
                seen.add((status["state"], status["error"]))
                envelope = agent.session()["lease"]
                if envelope["signature"]["kid"] == upcoming["kid"]:
                    break
                assert time.monotonic() < deadline, f"never signed with the new key: {status}"
                time.sleep(0.2)
            assert seen == {("active", None)}, seen
            assert signed_by(envelope, upcoming["public_key"])
            assert envelope["lease"]["server_time"] >= upcoming["current_from"]
            assert agent.session()["public_keys"] == {old["kid"]: old["public_key"],
                                                      upcoming["kid"]: upcoming["public_key"]}

            asked = app.ask_seat()
            assert asked["seat"]["envelope"]["signature"]["kid"] == upcoming["kid"]
            assert asked["holding"] is True
            assert app.ask("holding", "holding_now")["holding_now"] is True

            assert by_status(listing(server.url)) == {"current": [upcoming["kid"]],
                                                      "retired": [old["kid"]]}
            wait_listing(server.url, lambda found: old["kid"] not in
                         {key["kid"] for key in found}, timeout=TTL_S * 4 + 30)
            listed = json.loads(keys_cli(server, "list", "--json").stdout)
            assert [(k["kid"], k["status"], k["private_key"]) for k in listed] == [
                (upcoming["kid"], "current", "in the database"),
                (old["kid"], "dropped", "erased")]

            final = agent.wait_for("active")
            assert final["error"] is None and app.ask("holding", "holding_now")["holding_now"]
            assert final["lease"]["lease_id"] == active["lease"]["lease_id"]
            told = [line["event"] for line in [*app.skipped, *_drain(app)] if "event" in line]
            assert "lost" not in told, told
        assert agent.device_token() == token
        assert len(server.audit(device_id, "login")) == 1
        api.close()


def test_a_server_with_a_key_set_of_its_own_is_refused(tmp_path: Path,
                                                       make_agent: AgentFactory) -> None:
    """The same accounts and leases served with another key set (a copy of the database
    without its keys, rotated once): its current key is endorsed only by its own first key,
    which this device never trusted. `error` names the key and why; no lease is taken."""
    genuine = ScenarioServer(tmp_path / "genuine", lease_ttl=TTL_S, heartbeat_interval=1)
    with genuine, FaultProxy(genuine.port) as proxy:
        api = Api(genuine.url, genuine.admin_token)
        account, _license = api.new_account(seats=1)
        agent = make_agent("trusting-pc", server_url=proxy.url)
        agent.login(account["email"], account["password"])
        agent.start()
        agent.wait_for("active")
        trusted = dict(agent.session()["public_keys"])

        copy = tmp_path / "impostor" / "server.db"
        copy.parent.mkdir()
        with sqlite3.connect(genuine.db_path) as source, sqlite3.connect(copy) as target:
            source.backup(target)
            target.execute("DELETE FROM signing_keys")
        with ScenarioServer(tmp_path / "impostor", lease_ttl=TTL_S,
                            heartbeat_interval=1) as impostor:
            (first,) = listing(impostor.url)
            assert first["kid"] not in trusted
            assert keys_cli(impostor, "rotate", "--in", str(TTL_S)).returncode == 0
            keys = wait_listing(impostor.url, lambda found: by_status(found).get("current")
                                != [first["kid"]], timeout=TTL_S + 10)
            (current,) = [key for key in keys if key["status"] == "current"]

            proxy.cut()
            held = agent.status()["lease"]  # the genuine server's, no longer renewed
            proxy.upstream_port = impostor.port
            proxy.restore()
            status = agent.wait_for("error", timeout=TTL_S + 20)
            assert current["kid"] in status["error"], status
            assert f"endorsed by key {first['kid']}, which this device does not trust" in \
                status["error"]
            # The impostor's renewals were never taken: the seat ran out as the genuine
            # server left it.
            assert status["lease"] in (None, held) and status["message"] == status["error"]
            assert status["license"] is None or status["lease"] == held
            assert agent.session()["public_keys"] == trusted
            assert agent.alive
        api.close()


def test_a_key_whose_endorsement_does_not_verify_is_refused(make_agent: AgentFactory) -> None:
    """/v1/keys rewritten: a new key claims an endorsement by the pinned key that the pinned
    key never made. The renewal it signs is refused, the seat is not extended, and the
    agent says the endorsement does not verify."""
    genuine, forger = Signer("k1"), Signer("k2")
    server, lease = fake_server(pinned=genuine, signs_leases=genuine)
    with server:
        agent = make_agent("survey-laptop", server_url=server.url)
        agent.login("a@example.test", "pw-not-checked")
        agent.start()
        active = agent.wait_for("active")
        current_from = int(time.time())
        claimed = forger.key.sign(endorsement_statement(forger.kid, forger.public, current_from,
                                                        genuine.kid))  # signed by the forger
        server.routes["/v1/keys"] = reply(200, {"keys": [
            {"kid": forger.kid, "alg": "Ed25519", "public_key": forger.public,
             "status": "current", "current_from": format_time(
                 dt.datetime.fromtimestamp(current_from, dt.UTC)),
             "endorsement": {"kid": genuine.kid, "alg": "Ed25519",
                             "value": base64.b64encode(claimed).decode()}},
            {**genuine.keys_body()["keys"][0], "status": "retired",
             "current_from": "2026-01-01T00:00:00Z", "endorsement": None}]})
        forged = {**lease, "expires_at": "2099-01-01T00:00:00Z"}
        forged.pop("release_token")
        server.routes["/v1/seats/lease-1/heartbeat"] = reply(200, forger.sign(forged))
        # Offline while the seat it holds lasts (then `error`), saying why, as for any
        # renewal whose signature does not verify.
        status = agent.wait_for("offline", timeout=10)
        assert "key k2" in status["message"] and \
            "its endorsement by key k1 does not verify" in status["message"], status
        assert status["lease"]["expires_at"] == active["lease"]["expires_at"]
        assert agent.session()["public_keys"] == genuine.keys


def _drain(app: SdkApp) -> list[dict[str, Any]]:
    lines = []
    while True:
        try:
            lines.append(app.lines.get(timeout=0.3))
        except queue.Empty:
            return lines
