"""The typed server address, checked before it is saved: the real server passes; every other
kind of address (nothing there, another web server, an untrusted certificate, plain http
off this computer) is refused with a sentence saying why and what to do."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from seatkeeper.config import load_config
from seatkeeper.core.errors import ConfigError, ServerAddressRejected, SetByAdministrator
from seatkeeper.service import first_run
from seatkeeper.service.daemon import Agent
from seatkeeper.service.first_run import ServerChoice
from seatkeeper.service.server_check import check_server

from tests.agent.faultserver import FaultServer, closed_port, raw, reply
from tests.agent.leases import Signer
from tests.scenarios.common import ScenarioServer
from tests.support.proxy import FaultProxy

NOT_FOUND_PAGE = (b"HTTP/1.1 404 Not Found\r\nContent-Type: text/html\r\nContent-Length: 22\r\n"
                  b"\r\n<h1>Not Found</h1>\r\n\r\n")


def refused(typed: str, **kw: object) -> str:
    with pytest.raises(ServerAddressRejected) as caught:
        check_server(typed, **kw)  # type: ignore[arg-type]
    return caught.value.message


def test_the_real_server_passes_as_typed(scenario_server: ScenarioServer) -> None:
    """The license server's address passes, with a trailing slash or spaces trimmed."""
    assert check_server(f"  {scenario_server.url}/ ") == scenario_server.url


def test_nothing_listening_says_check_the_port() -> None:
    """No program at that port: the dialog says nothing answers there."""
    port = closed_port()
    said = refused(f"http://127.0.0.1:{port}")
    assert said == (f"Nothing answers at http://127.0.0.1:{port} (connection refused). "
                    "Check the address and its port number.")


def test_another_web_server_is_not_taken_for_a_license_server() -> None:
    """A web server that is not Seatkeeper: a page, not its health answer."""
    with FaultServer() as other:
        other.set(raw(NOT_FOUND_PAGE))
        said = refused(other.url)
    assert said.startswith(f"{other.url} answers, but not as a Seatkeeper license server "
                           "does (GET /v1/health answered HTTP 404)")
    assert "Check the address" in said


def test_a_server_without_lease_keys_is_refused() -> None:
    """Healthy, but without the protocol's keys: not one the agent can trust leases from."""
    with FaultServer() as other:
        other.routes["/v1/health"] = reply(200, {"status": "ok"})
        other.routes["/v1/keys"] = reply(404, {"detail": "Not Found"})
        said = refused(other.url)
    assert "not as a Seatkeeper license server does (GET /v1/keys:" in said


def test_a_redirect_names_where_it_leads() -> None:
    """An address that sends visitors elsewhere is not followed; the new address is named."""
    with FaultServer() as other:
        other.set(reply(301, None, {"Location": "https://licenses.example.com/"}))
        said = refused(other.url)
    assert said == (f"{other.url} sends its visitors on to https://licenses.example.com/: if "
                    "that is your license server, type its address instead.")


def test_a_key_other_than_the_pinned_one_is_refused(scenario_server: ScenarioServer) -> None:
    """With server_public_key set, a server publishing another key is not this one."""
    said = refused(scenario_server.url, pinned_key=Signer("k9").public)
    assert "its lease-signing key is not the one set as server_public_key" in said


def test_plain_http_off_this_computer_is_refused_before_connecting() -> None:
    """http:// to another host would carry the login unencrypted: refused, unasked."""
    said = refused("http://licenses.example.com")
    assert said.startswith("Plain http:// is allowed only to this computer")


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls_proxy(ca: trustme.CA, scenario_server: ScenarioServer) -> Iterator[FaultProxy]:
    """HTTPS on 127.0.0.1 with a certificate from a CA this computer does not know."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    with FaultProxy(scenario_server.port, tls=context) as proxy:
        yield proxy


def test_an_untrusted_certificate_is_refused_and_ca_bundle_mends_it(
        ca: trustme.CA, tls_proxy: FaultProxy, tmp_path: Path) -> None:
    """TLS is verified as the agent does: an unknown CA is named, with what to do; with the
    CA as ca_bundle the same address passes."""
    said = refused(tls_proxy.url)
    assert said.startswith(f"The certificate of {tls_proxy.url} is not trusted")
    assert "install its certificate on this computer, or set ca_bundle" in said
    bundle = tmp_path / "corp-ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    assert check_server(tls_proxy.url, ca_bundle=bundle) == tls_proxy.url


# -- the first run's two steps: check (with the user's file), keep -------------------------


def test_keep_saves_the_address_and_the_agent_uses_it(scenario_server: ScenarioServer,
                                                     tmp_path: Path) -> None:
    """Checked, then kept: config.toml holds it (a comment in it survives), the agent's
    status names it, and the tray then offers Log in… with Change license server…."""
    (tmp_path / "config.toml").write_text("# set up by me\n", encoding="utf-8")
    config = load_config({"SEATKEEPER_HOME": str(tmp_path)}, system_file=tmp_path / "none")
    assert first_run.server_setting(config).choice is ServerChoice.ASK
    agent = Agent(config)
    try:
        url = first_run.check(agent.config, scenario_server.url + "/")
        first_run.keep(agent, url)
        assert agent.status().server == scenario_server.url
        assert first_run.server_setting(agent.config).choice is ServerChoice.CHANGE
    finally:
        agent.stop()
    assert (tmp_path / "config.toml").read_text(encoding="utf-8") == (
        f'# set up by me\nserver_url = "{scenario_server.url}"\n')
    again = load_config({"SEATKEEPER_HOME": str(tmp_path)}, system_file=tmp_path / "none")
    assert again.server_url == scenario_server.url


def test_a_broken_config_file_is_named_before_the_server_is_asked(tmp_path: Path) -> None:
    """The user's file must take the address: a broken one is said first, and left alone."""
    with FaultServer() as other:
        other.routes["/v1/health"] = reply(200, {"status": "ok"})
        config = load_config({"SEATKEEPER_HOME": str(tmp_path)}, system_file=tmp_path / "none")
        (tmp_path / "config.toml").write_text("device_name = [\n", encoding="utf-8")
        with pytest.raises(ConfigError, match="not valid TOML"):
            first_run.check(config, other.url)
        assert other.seen == []
    assert (tmp_path / "config.toml").read_text(encoding="utf-8") == "device_name = [\n"


def test_a_locked_server_cannot_be_changed(tmp_path: Path) -> None:
    """The administrator's locked server_url: the check refuses at once, saying who set it."""
    system = tmp_path / "system.toml"
    system.write_text('server_url = "https://corp.example"\n[policy]\nlocked = ["server_url"]\n',
                      encoding="utf-8")
    config = load_config({"SEATKEEPER_HOME": str(tmp_path / "home")}, system_file=system)
    with pytest.raises(SetByAdministrator, match="administrator set the license server"):
        first_run.check(config, "https://mine.example")
