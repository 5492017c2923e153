"""Server settings: flags over SEATKEEPERD_ variables over the TOML file; bad ones in one line."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.server.test_cli import cli, one_clear_line
from tests.support.api import Api
from tests.support.procs import REPO_ROOT, ServerProcess, free_port, log_tail


def test_flags_win_over_variables_which_win_over_the_file(tmp_path: Path) -> None:
    """The database URL comes from the file alone; the port from the variable over the file;
    the lease TTL from the flag over both; the heartbeat interval from the file."""
    file_port, env_port = free_port(), free_port()
    config = tmp_path / "server.toml"
    config.write_text(f'db = "sqlite:///{tmp_path / "from-file.db"}"\nport = {file_port}\n'
                      'lease-ttl = 600\nheartbeat-interval = 120\nhost = "127.0.0.1"\n')
    env = {**os.environ, "SEATKEEPER_HOME": str(tmp_path), "SEATKEEPERD_PORT": str(env_port),
           "SEATKEEPERD_LEASE_TTL": "700", "SEATKEEPER_ADMIN_TOKEN": ""}
    log = (tmp_path / "out.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "seatkeeper_server", "serve", "--config",
                             str(config), "--lease-ttl", "800"], cwd=REPO_ROOT, env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, log_tail(tmp_path / "out.log")
            try:
                if requests.get(f"http://127.0.0.1:{env_port}/v1/health", timeout=2).ok:
                    break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, log_tail(tmp_path / "out.log")
                time.sleep(0.2)
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        log.close()
    banner = (tmp_path / "out.log").read_text()
    assert "lease TTL 800 s, heartbeat every 120 s" in banner, banner
    assert (tmp_path / "from-file.db").exists()
    assert proc.returncode == 0


@pytest.mark.parametrize(("file_text", "env", "says"), [
    ("port = 70000\n", {}, r"server\.toml: key 'port': 70000 is not a port number"),
    ("lease_ttl = 'long'\n", {}, r"server\.toml: key 'lease-ttl': 'long' is not a whole"),
    ("database = 'x'\n", {}, r"server\.toml: unknown key 'database'"),
    ("port = [\n", {}, r"server\.toml is not valid TOML"),
    ("access-log = 'yes'\n", {}, r"key 'access-log': 'yes' is not true or false"),
    ("", {"SEATKEEPERD_HEARTBEAT_INTERVAL": "soon"}, r"SEATKEEPERD_HEARTBEAT_INTERVAL: 'soon'"),
    ("audit-retention-days = -1\n", {},
     r"key 'audit-retention-days': -1 is not 0 \(keep forever\) to 36500 days"),
    ("", {"SEATKEEPERD_AUDIT_RETENTION_DAYS": "forever"},
     r"SEATKEEPERD_AUDIT_RETENTION_DAYS: 'forever' is not a whole number of days"),
    ("", {"SEATKEEPERD_LEASE_TTL": "60", "SEATKEEPERD_HEARTBEAT_INTERVAL": "90"},
     r"heartbeat-interval \(90 s\) must be shorter than lease-ttl \(60 s\)"),
], ids=["port", "ttl", "unknown-key", "not-toml", "bool", "env", "retention",
        "retention-env", "interval"])
def test_a_bad_setting_is_one_line_naming_it(tmp_path: Path, file_text: str,
                                             env: dict[str, str], says: str) -> None:
    """A bad value, an unknown key or a broken file: one line naming the key and the file."""
    config = tmp_path / "server.toml"
    config.write_text(file_text)
    result = subprocess.run([sys.executable, "-m", "seatkeeper_server", "admin", "list",
                             "--config", str(config)], cwd=REPO_ROOT, capture_output=True,
                            text=True, timeout=60, check=False,
                            env={**os.environ, "SEATKEEPER_HOME": str(tmp_path), **env})
    assert re.search(says, one_clear_line(result, status=2)), result.stderr


def test_a_missing_config_file_is_named(tmp_path: Path) -> None:
    """--config naming no file is an error saying so (the default file may be absent)."""
    result = cli(tmp_path, "migrate", "--config", str(tmp_path / "nope.toml"))
    assert "nope.toml does not exist" in one_clear_line(result, status=2)


def test_the_admin_token_comes_from_a_systemd_credential(tmp_path: Path) -> None:
    """With no token on the command line or in the environment, $CREDENTIALS_DIRECTORY's
    admin-token is the admin token; a short one there is refused naming the file."""
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    token = secrets.token_urlsafe(32)
    (credentials / "admin-token").write_text(token + "\n")
    env = {"SEATKEEPER_ADMIN_TOKEN": "", "CREDENTIALS_DIRECTORY": str(credentials)}
    db = f"sqlite:///{tmp_path / 'server.db'}"
    with ServerProcess(db, home=tmp_path / "home", signing_key_path=tmp_path / "key.pem",
                       admin_token=token, env=env) as server:
        Api(server.url, token).create_account("cred@example.test", "correct horse battery")
    assert not (tmp_path / "home" / "server" / "admin-token").exists()
    (credentials / "admin-token").write_text("short\n")
    result = subprocess.run([sys.executable, "-m", "seatkeeper_server", "--db", db, "--port",
                             str(free_port())], cwd=REPO_ROOT, capture_output=True, text=True,
                            timeout=60, check=False,
                            env={**os.environ, "SEATKEEPER_HOME": str(tmp_path), **env})
    assert "admin-token must hold 32" in one_clear_line(result, status=2)


def test_public_url_is_the_address_in_the_links_the_server_writes(tmp_path: Path) -> None:
    """Behind a proxy (--public-url https://…) a device login points the browser at the public
    address, whatever Host the request carried."""
    with ServerProcess(f"sqlite:///{tmp_path / 'server.db'}", home=tmp_path,
                       signing_key_path=tmp_path / "key.pem",
                       env={"SEATKEEPERD_PUBLIC_URL": "https://licenses.example.com/"}) as server:
        grant = requests.post(f"{server.url}/v1/auth/device", timeout=10,
                              headers={"Host": "internal-node-7:8750"},
                              json={"fingerprint": "f" * 64, "name": "survey-laptop",
                                    "platform": "linux"})
    assert grant.status_code == 200, grant.text
    assert grant.json()["verification_uri"] == "https://licenses.example.com/portal/device"
    assert grant.json()["verification_uri_complete"].startswith(
        "https://licenses.example.com/portal/device?code=")


def test_help_shows_each_options_default_and_variable(tmp_path: Path) -> None:
    """`seatkeeper-server serve --help` names each option's default and its variable."""
    shown = " ".join(cli(tmp_path, "serve", "--help").stdout.split())
    for text in ("--lease-ttl SECONDS", "(default: 900; SEATKEEPERD_LEASE_TTL)",
                 "(default: 127.0.0.1; SEATKEEPERD_HOST)",
                 "(default: off; SEATKEEPERD_METRICS_LISTEN)",
                 "/etc/seatkeeper/server.toml"):
        assert text in shown, shown
