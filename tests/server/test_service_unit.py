"""installer/linux-systemd-server: the unit verifies, is hardened, and its command line serves."""

from __future__ import annotations

import os
import re
import secrets
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.support.api import Api
from tests.support.procs import REPO_ROOT, free_port, log_tail

UNIT = REPO_ROOT / "installer" / "linux-systemd-server" / "seatkeeper-server.service"
INSTALLED = "/opt/seatkeeper-server/bin/seatkeeper-server"
MAX_EXPOSURE = 3.0


def analyze(*args: str) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed (scripts/test installs it when root)")
    return subprocess.run([tool, *args], capture_output=True, text=True, timeout=120,
                          check=False)


@pytest.fixture
def unit_copy(tmp_path: Path) -> Path:
    """The unit with ExecStart pointing at this environment's seatkeeper-server."""
    script = Path(sys.executable).with_name("seatkeeper-server")
    assert script.is_file(), "the test environment's seatkeeper-server script"
    copy = tmp_path / "seatkeeper-server.service"
    copy.write_text(UNIT.read_text().replace(INSTALLED, str(script)))
    return copy


def test_the_server_unit_passes_systemd_analyze_verify(unit_copy: Path) -> None:
    """systemd-analyze verify has nothing to say about the unit."""
    done = analyze("verify", str(unit_copy))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "seatkeeper-server.service" not in done.stderr, done.stderr


def test_the_server_unit_is_hardened(unit_copy: Path) -> None:
    """systemd-analyze security rates the unit's exposure below 3.0; the admin token arrives
    as a credential and the state in its own directory."""
    done = analyze("security", "--offline=true", str(unit_copy))
    found = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", done.stdout)
    assert found, done.stdout + done.stderr
    assert float(found.group(1)) < MAX_EXPOSURE, done.stdout
    unit = UNIT.read_text()
    for line in ("DynamicUser=yes", "StateDirectory=seatkeeper-server", "ProtectSystem=strict",
                 "LoadCredential=admin-token:"):
        assert line in unit


def test_the_units_command_and_environment_serve(tmp_path: Path) -> None:
    """ExecStart with the unit's Environment=, its state directory and its credential (as
    systemd hands them over) serves: ready, the admin token works, the data in the state
    directory, nothing generated beside it."""
    unit = UNIT.read_text()
    state, credentials = tmp_path / "state", tmp_path / "credentials"
    state.mkdir()
    credentials.mkdir()
    token = secrets.token_urlsafe(32)
    (credentials / "admin-token").write_text(token)
    (exec_start,) = re.findall(r"^ExecStart=(.*)$", unit, re.MULTILINE)
    command = shlex.split(exec_start.replace(INSTALLED, str(Path(sys.executable).with_name(
        "seatkeeper-server"))))
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("SEATKEEPER_", "SEATKEEPERD_"))}
    for assignment in re.findall(r"^Environment=(.*)$", unit, re.MULTILINE):
        key, _, value = assignment.partition("=")
        env[key] = value.replace("%S", str(state))
    port = free_port()
    # What /etc/seatkeeper/server.env would hold on a real host.
    env.update(CREDENTIALS_DIRECTORY=str(credentials), SEATKEEPERD_PORT=str(port),
               HOME=str(tmp_path / "no-home"))
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(command, env=env, cwd=tmp_path, stdout=out,
                                stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, log_tail(log)
            try:
                if requests.get(f"http://127.0.0.1:{port}/v1/ready", timeout=2).ok:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, log_tail(log)
            time.sleep(0.2)
        Api(f"http://127.0.0.1:{port}", token).create_account("unit@example.test",
                                                               "correct horse battery")
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    assert proc.returncode == 0, log_tail(log)
    data = state / "seatkeeper-server"
    # The signing keys live in the database, which is the service user's alone.
    assert "server.db" in {path.name for path in data.iterdir()}
    assert not (data / "signing-key.pem").exists()
    assert (data / "server.db").stat().st_mode & 0o077 == 0
    assert not (data / "admin-token").exists()
    assert "Traceback" not in log.read_text()
