"""The PyInstaller bundle (installer/pyinstaller/seatkeeper.spec), built and run on Linux."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import seatkeeper

from tests.scenarios.common import ScenarioServer
from tests.support.agent import CLI_TIMEOUT_S, AgentProcess
from tests.support.api import Api
from tests.support.procs import REPO_ROOT

pytestmark = pytest.mark.slow
SPEC = REPO_ROOT / "installer" / "pyinstaller" / "seatkeeper.spec"


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`pyinstaller seatkeeper.spec` into a temporary folder: the bundle's executable."""
    pyinstaller = Path(sys.executable).with_name("pyinstaller")
    if not pyinstaller.is_file():
        pytest.skip("PyInstaller is not installed (it is in the test extra)")
    out = tmp_path_factory.mktemp("bundle")
    done = subprocess.run(
        [str(pyinstaller), "--noconfirm", "--log-level", "ERROR", "--distpath",
         str(out / "dist"), "--workpath", str(out / "build"), str(SPEC)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    shutil.rmtree(out / "build", ignore_errors=True)
    exe = out / "dist" / "seatkeeper" / "seatkeeper"
    assert exe.is_file()
    return exe


class BundledAgent(AgentProcess):
    """An AgentProcess whose CLI and daemon are the bundle's executable."""

    def __init__(self, exe: Path, home: Path, **kw: Any) -> None:
        super().__init__(home, **kw)
        self.exe = exe

    def run_command(self) -> list[str]:
        return [str(self.exe), "run", "--headless"]

    def cli(self, *args: str, input: str | None = None,
            timeout: float = CLI_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(self.exe), *args], env=self.env, input=input,
                              capture_output=True, text=True, timeout=timeout, check=False)


def test_bundle_prints_its_version(bundle: Path) -> None:
    """`seatkeeper --version` from the bundle, with no Python environment around it."""
    done = subprocess.run([str(bundle), "--version"], capture_output=True, text=True,
                          timeout=60, check=False, env={"PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"seatkeeper {seatkeeper.__version__}"


def test_bundle_holds_a_seat_headless_and_gives_it_back_on_sigterm(
        bundle: Path, scenario_server: ScenarioServer, scenario_api: Api,
        tmp_path: Path) -> None:
    """Login, `run --headless` against the test server: active; SIGTERM releases the seat."""
    account, license = scenario_api.new_account(seats=1)
    with BundledAgent(bundle, tmp_path / "bundled", server_url=scenario_server.url,
                      device_name="bundled-pc") as agent:
        agent.login(account["email"], account["password"])
        agent.start()
        agent.wait_for("active")
        assert agent._proc is not None
        agent._proc.send_signal(signal.SIGTERM)
        assert agent._proc.wait(timeout=10) == 0
    leases = scenario_api.admin_get(f"/v1/admin/licenses/{license['id']}").json()["leases"]
    assert leases == []


def test_bundle_speaks_the_users_language(bundle: Path, tmp_path: Path) -> None:
    """The catalogues travel in the bundle: `status` in German and in French by locale."""
    for lang, first in (("de_CH.UTF-8", "Nicht angemeldet"), ("fr_CH.UTF-8", "Non connecté")):
        done = subprocess.run([str(bundle), "status"], capture_output=True, text=True,
                              timeout=60, check=False,
                              env={"PATH": "/usr/bin:/bin", "LANG": lang,
                                   "SEATKEEPER_HOME": str(tmp_path / lang),
                                   "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"})
        assert done.returncode == 0, done.stderr
        assert done.stdout.splitlines()[0] == first
