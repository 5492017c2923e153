"""Trust: forged leases, untrusted certificates, and a server whose clock is a day off."""

from __future__ import annotations

import datetime as dt
import glob
import os
import ssl
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from seatkeeper.core.wire import format_time, parse_time

from tests.agent.faultserver import FaultServer, reply
from tests.agent.leases import Signer, lease_json
from tests.scenarios.common import ScenarioServer
from tests.scenarios.conftest import AgentFactory
from tests.support.api import Api
from tests.support.proxy import FaultProxy

# -- a lease signed with a key other than the pinned one ------------------------------------


def fake_server(pinned: Signer, signs_leases: Signer) -> tuple[FaultServer, dict[str, Any]]:
    """A server publishing `pinned` at /v1/keys, signing its lease with `signs_leases`.

    Returns the server and the lease it hands out (unsigned, to forge variants of).
    """
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    lease = lease_json(issued_at=format_time(now), server_time=format_time(now),
                       expires_at=format_time(now + dt.timedelta(seconds=60)), ttl_s=60,
                       heartbeat_interval_s=1)
    server = FaultServer()
    server.routes.update({
        "/v1/health": reply(200, {"status": "ok", "time": format_time(now)}),
        "/v1/keys": reply(200, pinned.keys_body()),
        "/v1/auth/password": reply(200, {
            "token": "skd_" + "f" * 40, "account": {"id": "acct-1", "email": "a@example.test"},
            "device": {"id": "dev-1", "name": "survey-laptop"}}),
        "/v1/seats": reply(201, signs_leases.sign(lease)),
        "/v1/seats/lease-1/heartbeat": reply(200, signs_leases.sign(lease)),
    })
    return server, lease


def test_forged_lease_is_refused_with_an_error_naming_the_signature(
        make_agent: AgentFactory) -> None:
    """A seat lease not signed by the pinned key: `error` naming the signature, no seat."""
    genuine, impostor = Signer("k1"), Signer("k1")
    server, _lease = fake_server(pinned=genuine, signs_leases=impostor)
    with server:
        agent = make_agent("survey-laptop", server_url=server.url)
        agent.login("a@example.test", "pw-not-checked")
        agent.start()
        status = agent.wait_for("error")
        assert "signature does not verify" in status["error"], status
        assert status["message"] == status["error"]
        assert status["lease"] is None and status["license"] is None
        assert any(seen.path == "/v1/seats" for seen in server.seen)
        # Retrying cannot mend it: the agent backs off instead of asking every second.
        before = len(server.seen)
        time.sleep(3)
        asked = [seen.path for seen in server.seen[before:]]
        assert asked.count("/v1/health") == 0 and asked.count("/v1/seats") <= 3, asked
        assert agent.status()["state"] == "error" and agent.alive


def test_forged_heartbeat_does_not_extend_the_seat(make_agent: AgentFactory) -> None:
    """A held seat whose renewal comes back forged: not taken, `offline` naming the signature."""
    genuine, impostor = Signer("k1"), Signer("k1")
    server, lease = fake_server(pinned=genuine, signs_leases=genuine)
    with server:
        agent = make_agent("survey-laptop", server_url=server.url)
        agent.login("a@example.test", "pw-not-checked")
        agent.start()
        active = agent.wait_for("active")
        forged = {**lease, "expires_at": "2099-01-01T00:00:00Z"}
        server.routes["/v1/seats/lease-1/heartbeat"] = reply(200, impostor.sign(forged))
        status = agent.wait_for("offline", timeout=10)
        assert "signature does not verify" in status["message"], status
        assert status["lease"]["expires_at"] == active["lease"]["expires_at"]
        assert agent.alive


# -- TLS: a certificate from a CA the system does not trust ---------------------------------


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls_proxy(ca: trustme.CA, scenario_server: ScenarioServer) -> Iterator[FaultProxy]:
    """HTTPS on 127.0.0.1 with a certificate from the test CA, in front of the real server."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    with FaultProxy(scenario_server.port, tls=context) as proxy:
        yield proxy


def test_untrusted_certificate_is_named_and_the_ca_bundle_fixes_it(
        ca: trustme.CA, tls_proxy: FaultProxy, scenario_api: Api, make_agent: AgentFactory,
        tmp_path: Path) -> None:
    """An unknown CA: login and agent say the certificate is not trusted; ca_bundle mends it."""
    ca_file = tmp_path / "corp-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    account, _license = scenario_api.new_account(seats=1)
    agent = make_agent("corp-pc", server_url=tls_proxy.url)
    assert tls_proxy.url.startswith("https://")

    refused = agent.cli("login", "--email", account["email"], "--password-stdin",
                        input=account["password"] + "\n")
    assert refused.returncode == 1
    assert "certificate" in refused.stderr and "not trusted" in refused.stderr, refused.stderr
    assert "ca_bundle" in refused.stderr  # says what to do

    agent.write_config(ca_bundle=str(ca_file))
    agent.login(account["email"], account["password"])
    agent.write_config(ca_bundle=None)  # the bundle is gone again: the daemon must say so
    agent.start()
    status = agent.wait_for("error")
    assert "certificate" in status["error"] and "not trusted" in status["error"], status
    assert "ca_bundle" in status["message"]
    assert agent.alive
    agent.stop()

    agent.write_config(ca_bundle=str(ca_file))
    agent.start()
    active = agent.wait_for("active")
    assert active["server"] == tls_proxy.url and active["error"] is None


# -- the server's clock a day off -----------------------------------------------------------

SHORT_TTL_S = 4


def libfaketime() -> str | None:
    """Debian's multi-threaded libfaketime, if installed (package libfaketime)."""
    found = sorted(glob.glob("/usr/lib/*/faketime/libfaketimeMT.so.1"))
    return found[0] if found else None


class FakeClockServer(ScenarioServer):
    """The server under libfaketime: its wall clock is `offset` off (monotonic stays real).

    The library is preloaded into the server process itself rather than through the
    `faketime` wrapper, which forks: stopping the wrapper would leave the server running.
    """

    def __init__(self, base: Path, offset: str, library: str, **kw: Any) -> None:
        super().__init__(base, env={"FAKETIME_DONT_FAKE_MONOTONIC": "1", "FAKETIME": offset,
                                    "LD_PRELOAD": library}, **kw)


@pytest.mark.parametrize("offset, days", [("+1d", 1), ("-1d", -1)], ids=["ahead", "behind"])
def test_lease_expiry_is_judged_on_the_servers_clock(
        offset: str, days: int, tmp_path: Path, make_agent: AgentFactory) -> None:
    """Server clock a day off: the agent is active, and its seat runs out on the server's time."""
    library = libfaketime()
    if library is None:
        message = "needs libfaketime (Debian package faketime; scripts/test installs it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    with FakeClockServer(tmp_path / "server", offset, library, lease_ttl=SHORT_TTL_S,
                         heartbeat_interval=1) as server, FaultProxy(server.port) as proxy:
        api = Api(server.url, server.admin_token)
        try:
            assert abs(server_skew_s(api) - days * 86400) < 60, "faketime did not take"
            account, _license = api.new_account(seats=1)
        finally:
            api.close()
        agent = make_agent("skewed-pc", server_url=proxy.url)
        agent.login(account["email"], account["password"])
        agent.start()
        active = agent.wait_for("active")
        expires = parse_time(active["lease"]["expires_at"])
        local = dt.datetime.now(dt.UTC)
        assert abs((expires - local).total_seconds() - days * 86400) < 60, active

        proxy.cut()
        offline = agent.wait_for("offline", timeout=5)
        assert "seat held until" in offline["message"]
        # By the server's clock the seat ends within SHORT_TTL_S; by the local one it would
        # end a day from now (ahead) or have ended a day ago (behind).
        ran_out = agent.wait_for("acquiring", timeout=SHORT_TTL_S + 3)
        assert "ran out" in ran_out["message"], ran_out
        assert agent.alive


def server_skew_s(api: Api) -> float:
    """The server's clock minus ours, in seconds, from its /v1/health answer."""
    answer = api.get("/v1/health")
    assert answer.status_code == 200, answer.text
    server_time = parse_time(answer.json()["time"])
    return (server_time - dt.datetime.now(dt.UTC)).total_seconds()
