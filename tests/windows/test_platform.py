"""What the agent touches of Windows besides its pipe: the user's folders, and TLS through the OS.

Wine 8's CryptoAPI checks a certificate's host name but does not refuse a root it does
not know (a certificate from a fresh CA verifies with no ca_bundle at all), so "an
untrusted CA is refused" is shown on Linux (tests/scenarios/test_trust.py); here the
Windows path of truststore (CertGetCertificateChain and its SSL policy) is shown
accepting the right certificate and refusing one for another host, in words.
"""

from __future__ import annotations

import shutil
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme

from tests.scenarios.common import ScenarioServer
from tests.support.api import Api
from tests.support.proxy import FaultProxy
from tests.windows import wine
from tests.windows.agent import WindowsAgent


def _tls_proxy(ca: trustme.CA, server: ScenarioServer, name: str) -> FaultProxy:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(name).configure_cert(context)
    return FaultProxy(server.port, tls=context)


def test_https_login_goes_through_the_windows_trust_store(
        tmp_path: Path, server: ScenarioServer, api: Api, make_agent: Any) -> None:
    """Login over https works with the OS trust path; a certificate for another host is refused."""
    ca = trustme.CA()
    ca_file = tmp_path / "corp-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    account, _ = api.new_account(seats=1)
    with _tls_proxy(ca, server, "localhost") as good, \
            _tls_proxy(ca, server, "licenses.example.com") as wrong:
        agent = make_agent(ca_bundle=wine.windows_path(ca_file))
        url = wrong.url.replace("127.0.0.1", "localhost")
        done = agent.cli("login", "--server", url, "--email", account["email"],
                         "--password-stdin", input=account["password"] + "\n")
        assert done.returncode == 1, done.stdout
        assert f"The certificate of {url} is not trusted (it was issued for another host " \
               "name)" in done.stdout
        assert "Traceback" not in done.stdout
        url = good.url.replace("127.0.0.1", "localhost")
        done = agent.cli("login", "--server", url, "--email", account["email"],
                         "--password-stdin", input=account["password"] + "\n")
        assert done.returncode == 0, done.stdout
        assert f"Logged in as {account['email']} on {url}." in done.stdout


@pytest.fixture
def user_folders() -> Iterator[Path]:
    """The Windows user's AppData\\Local, emptied of Seatkeeper's folders before and after."""
    (local,) = (wine.PREFIX / "drive_c" / "users").glob("*/AppData/Local")
    made = (local / "seatkeeper", local / "Temp" / "seatkeeper")
    for folder in made:
        shutil.rmtree(folder, ignore_errors=True)
    yield local
    for folder in made:
        shutil.rmtree(folder, ignore_errors=True)


def test_without_seatkeeper_home_the_users_own_folders_are_used(
        user_folders: Path, server: ScenarioServer) -> None:
    """No SEATKEEPER_HOME: config, data and logs in %LOCALAPPDATA%\\seatkeeper, lock in Temp."""
    agent = WindowsAgent(user_folders / "seatkeeper", server_url=server.url,
                         device_name="default-folders-pc", seatkeeper_home=False)
    try:
        before = agent.status()
        assert before["running"] is False and before["device"] == "default-folders-pc"
        agent.start()
        status = agent.status()
        assert status["running"] is True and status["local_api"] == before["local_api"]
        assert (user_folders / "seatkeeper" / "Logs" / "seatkeeper.log").is_file()
        assert (user_folders / "seatkeeper" / "outbox.sqlite3").is_file()
        assert (user_folders / "Temp" / "seatkeeper" / "agent.lock").is_file()
    finally:
        agent.close()
