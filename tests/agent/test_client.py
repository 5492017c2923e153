"""The HTTP client against a real local server: every fault becomes its named error."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from seatkeeper.core import errors
from seatkeeper.core.protocol import format_time
from seatkeeper.service.client import Client, make_session
from seatkeeper.service.outbox import Outbox, deliver
from seatkeeper.service.transport import check_server_url, is_loopback

from tests.agent.faultserver import (
    FaultServer,
    closed_port,
    hang,
    raw,
    reply,
    reset_mid_response,
)
from tests.agent.leases import Signer, lease_json
from tests.support.http_proxy import RecordingProxy

FAST = (2.0, 0.3)


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with FaultServer() as running:
        yield running


def client_for(server: FaultServer, **kwargs: object) -> Client:
    return Client(server.url, requests.Session(), token="dev-token", timeout=FAST,
                  **kwargs)  # type: ignore[arg-type]


def error(code: str, message: str = "no", **details: object) -> dict[str, object]:
    return {"error": {"code": code, "message": message, "details": details}}


def test_health_measures_clock_skew(server: FaultServer) -> None:
    """A server clock an hour ahead shows as about +3600 s of skew."""
    ahead = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    server.set(reply(200, {"status": "ok", "time": format_time(ahead)}))
    client = client_for(server)
    assert client.health() is not None
    assert client.clock_skew_s is not None and abs(client.clock_skew_s - 3600) < 2


@pytest.mark.parametrize(("behaviour", "expected"), [
    (reply(500), errors.ServerUnavailable),
    (raw(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 3\r\n\r\nbad"), errors.ServerUnavailable),
    (reply(503), errors.ServerUnavailable),
    (reply(503, error("UNAVAILABLE")), errors.Unavailable),
    (raw(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n<html>hi!"), errors.MalformedResponse),
    (raw(b"\x00\x01 this is not HTTP at all\r\n\r\n"), errors.MalformedResponse),
    (reply(200, ["a", "list"]), errors.MalformedResponse),
    (reply(404, {"detail": "Not Found"}), errors.MalformedResponse),
    (reply(302, None, {"Location": "http://elsewhere.example/"}), errors.MalformedResponse),
    (reset_mid_response, errors.ConnectionReset),
    (raw(b""), errors.ConnectionReset),
    (hang, errors.Timeout),
], ids=["500", "502-text", "503-empty", "503-unavailable", "html-body", "not-http",
        "json-list", "404-foreign-body", "redirect", "reset-mid-response", "closed-no-answer",
        "hang"])
def test_fault_matrix(server: FaultServer, behaviour: object, expected: type) -> None:
    """Each way a server can fail maps to one class of the error tree."""
    server.set(behaviour)  # type: ignore[arg-type]
    started = time.monotonic()
    with pytest.raises(expected) as caught:
        client_for(server).health()
    assert type(caught.value) is expected
    assert time.monotonic() - started < 5
    assert str(caught.value)


def test_connection_refused() -> None:
    """A port where nothing listens is ConnectionRefused, not a crash."""
    client = Client(f"http://127.0.0.1:{closed_port()}", requests.Session(), timeout=FAST)
    with pytest.raises(errors.ConnectionRefused, match="refused"):
        client.health()


def test_wrong_shape_names_the_field(server: FaultServer) -> None:
    """JSON of the wrong shape is MalformedResponse naming the field."""
    server.set(reply(200, {"id": "a", "remote_deactivation": False, "licenses": []}))
    with pytest.raises(errors.MalformedResponse, match=r"account\.email"):
        client_for(server).account()


def test_refusals_carry_details(server: FaultServer) -> None:
    """A protocol refusal keeps its details (who holds the seats) and Retry-After."""
    holders = [{"id": "d1", "name": "office-pc", "last_heartbeat_at": None}]
    server.set(reply(409, error("SEAT_LIMIT_REACHED", seats_total=1, devices=holders)))
    client = client_for(server, public_keys={"k": "x"})
    with pytest.raises(errors.SeatLimitReached) as caught:
        client.acquire(app_name="A", app_version="1", app_release_date=dt.date(2026, 1, 1))
    assert caught.value.details["devices"] == holders
    server.set(reply(429, error("RATE_LIMITED"), {"Retry-After": "30"}))
    with pytest.raises(errors.RateLimited) as limited:
        client.login_password("a@b.c", "pw", fingerprint="f", name="n", platform="linux")
    assert limited.value.retry_after == 30


def test_acquire_verifies_and_measures_skew(server: FaultServer) -> None:
    """A signed lease is verified with the pinned key; its server_time gives the skew."""
    signer = Signer()
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    lease = lease_json(server_time=format_time(now - dt.timedelta(hours=24)))
    server.set(reply(201, signer.sign(lease)))
    client = client_for(server, public_keys=signer.keys)
    envelope = client.acquire(app_name="PIX4Dmapper", app_version="4.9.0",
                              app_release_date=dt.date(2026, 1, 15))
    assert envelope.lease.release_token == "rt-secret"
    assert client.clock_skew_s is not None and abs(client.clock_skew_s + 86_400) < 3
    (seen,) = server.seen
    assert seen.method == "POST" and seen.path == "/v1/seats"
    assert seen.headers["Authorization"] == "Bearer dev-token"
    assert seen.body == {"app": {"name": "PIX4Dmapper", "version": "4.9.0",
                                 "release_date": "2026-01-15"}}


def test_bad_signature_and_missing_key(server: FaultServer) -> None:
    """A lease signed by another key, or with no key pinned, is BadSignature."""
    server.set(reply(200, Signer("k1").sign(lease_json())))
    with pytest.raises(errors.BadSignature):
        client_for(server, public_keys=Signer("k1").keys).heartbeat("lease-1")
    with pytest.raises(errors.BadSignature, match="No server key"):
        client_for(server).heartbeat("lease-1")


def test_release_with_release_token(server: FaultServer) -> None:
    """A release by release token sends that header, the reason, and no device token."""
    server.set(reply(204))
    Client(server.url, requests.Session()).release("L 1", reason="shutdown",
                                                   release_token="rt")
    (seen,) = server.seen
    assert seen.method == "DELETE" and seen.path == "/v1/seats/L%201?reason=shutdown"
    assert seen.headers["Seat-Release-Token"] == "rt" and "Authorization" not in seen.headers


def test_device_calls(server: FaultServer) -> None:
    """Account, devices, deactivation, remote-deactivation and keys parse their answers."""
    signer = Signer()
    device = {"id": "d2", "name": "office", "platform": "linux", "current": False,
              "seat": None, "last_heartbeat_at": None}
    server.routes.update({
        "/v1/keys": reply(200, signer.keys_body()),
        "/v1/devices": reply(200, {"devices": [device]}),
        "/v1/devices/d2/deactivate": reply(200, device),
        "/v1/account/remote-deactivation": reply(200, {"enabled": True}),
        "/v1/auth/password": reply(200, {"token": "t", "account": {"id": "a", "email": "e"},
                                         "device": {"id": "d", "name": "n"}}),
    })
    client = client_for(server)
    assert client.keys() == signer.keys
    assert client.devices()[0].name == "office"
    assert client.deactivate_device("d2").id == "d2"
    assert client.set_remote_deactivation(True) is True
    assert client.login_password("e", "pw", fingerprint="f", name="n",
                                 platform="linux").token == "t"
    assert server.seen[-2].body == {"enabled": True}


def test_deliver_over_http(server: FaultServer, tmp_path: Path) -> None:
    """A queued logout reaches the server as DELETE lease then POST logout, then is gone."""
    server.set(reply(204))
    with Outbox(tmp_path / "outbox.sqlite3") as box:
        box.enqueue_logout("queued-token", lease_id="L1", release_token="rt")
        assert deliver(box, client_for(server)) == 1
        assert box.pending() == []
    assert [(s.method, s.path) for s in server.seen] == [
        ("DELETE", "/v1/seats/L1?reason=logout"), ("POST", "/v1/auth/logout")]
    assert server.seen[1].headers["Authorization"] == "Bearer queued-token"


def test_environment_proxy_is_honoured_for_https(monkeypatch: pytest.MonkeyPatch) -> None:
    """HTTPS_PROXY from the environment carries https:// requests (trust_env stays on)."""
    with RecordingProxy() as trap:
        monkeypatch.setenv("HTTPS_PROXY", trap.url)
        monkeypatch.setenv("NO_PROXY", "")
        with pytest.raises(errors.NetworkError):
            Client("https://licenses.example.test", make_session(), timeout=FAST).health()
    assert [seen.line.split()[:2] for seen in trap.seen] == [
        ["CONNECT", "licenses.example.test:443"]]


def test_plain_http_bypasses_every_proxy(server: FaultServer,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """http:// to loopback goes straight to the server, whatever the proxy variables say."""
    server.set(reply(200, {"status": "ok"}))
    with RecordingProxy() as trap:
        for name in ("HTTP_PROXY", "ALL_PROXY", "http_proxy", "all_proxy"):
            monkeypatch.setenv(name, trap.url)
        monkeypatch.setenv("NO_PROXY", "")
        session = make_session()
        session.proxies["http"] = trap.url
        Client(server.url, session, token="skd_secret", timeout=FAST).health()
    assert trap.seen == []
    assert [s.path for s in server.seen] == ["/v1/health"]


@pytest.mark.parametrize(("url", "allowed"), [
    ("http://127.0.0.1:8000", True), ("http://127.9.8.7", True), ("http://localhost:1", True),
    ("http://[::1]:8000", True), ("http://[::ffff:127.0.0.1]", True),
    ("https://licenses.example.com", True), ("http://licenses.example.com", False),
    ("http://10.0.0.1", False), ("http://localhost.example.com", False),
    ("http://evil.localhost", False),
])
def test_plain_http_only_to_loopback(url: str, allowed: bool) -> None:
    """Plain http:// is refused with InsecureServerURL unless the host is loopback."""
    if allowed:
        assert check_server_url(url + "/") == url
    else:
        with pytest.raises(errors.InsecureServerURL):
            Client(url, requests.Session())


def test_is_loopback_names() -> None:
    """Loopback means 127.0.0.0/8, ::1 and localhost, nothing else."""
    assert is_loopback("LOCALHOST") and is_loopback("::1") and is_loopback("127.255.0.1")
    assert not is_loopback("128.0.0.1") and not is_loopback("example.com")


def test_not_a_url() -> None:
    """An address that is not http(s) is a configuration error."""
    with pytest.raises(errors.ConfigError):
        check_server_url("ftp://x.example")
