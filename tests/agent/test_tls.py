"""TLS: a certificate from a CA the client does not trust fails; the CA bundle option fixes it."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from seatkeeper.core import errors
from seatkeeper.service.client import Client, make_session
from seatkeeper.service.transport import certificate_detail

from tests.agent.faultserver import FaultServer

FAST = (2.0, 2.0)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls_server(ca: trustme.CA) -> Iterator[FaultServer]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    with FaultServer(tls=context) as server:
        yield server


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> Path:
    path = tmp_path / "corp-ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


def test_untrusted_certificate_is_tls_error(tls_server: FaultServer) -> None:
    """A server whose CA is not in the OS trust store gives TLSError, with advice."""
    client = Client(tls_server.url, make_session(), timeout=FAST)
    with pytest.raises(errors.TLSError) as caught:
        client.health()
    assert "not trusted" in str(caught.value) and "ca_bundle" in str(caught.value)
    assert caught.value.user_action_required


def test_ca_bundle_makes_it_trusted(tls_server: FaultServer, ca_file: Path) -> None:
    """With ca_bundle pointing at the CA, the same server is accepted."""
    client = Client(tls_server.url, ca_bundle=ca_file, timeout=FAST)
    client.health()
    assert tls_server.seen[0].path == "/v1/health"


def test_requests_ca_bundle_variable_is_not_a_back_door(
        tls_server: FaultServer, ca_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Trust comes from the OS store and the configured bundle only, not REQUESTS_CA_BUNDLE."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca_file))
    with pytest.raises(errors.TLSError):
        Client(tls_server.url, make_session(), timeout=FAST).health()


def test_hostname_is_checked(ca: trustme.CA, ca_file: Path) -> None:
    """A trusted certificate for another name is still refused."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("licenses.example.com").configure_cert(context)
    with FaultServer(tls=context) as server, pytest.raises(errors.TLSError):
        Client(server.url, make_session(ca_file), timeout=FAST).health()


def test_windows_certificate_codes_read_as_words() -> None:
    """On Windows truststore gives CryptoAPI's CERT_E_* code; the message says it in words."""
    assert certificate_detail("('Certificate chain policy error 0x800b010f [0]',)") \
        == "it was issued for another host name"
    assert certificate_detail("('Certificate chain policy error 0x800B0109 [0]',)") \
        == "it comes from a certificate authority this computer does not trust"
    assert certificate_detail("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: "
                              "self-signed certificate") == "certificate verify failed: " \
                                                           "self-signed certificate"
