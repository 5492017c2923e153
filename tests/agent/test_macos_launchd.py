"""macOS start at login: both LaunchAgent plists carry what launchd needs, checked on Linux.

One is installer/macos-launchagent/com.seatkeeper.agent.plist, the other is what
`seatkeeper autostart enable` writes through the macOS platform module (its home folder
replaced by a temporary one). launchd itself never reads them here: no Mac runs this suite
(docs/platform.md says what that leaves untried); on a Mac, `plutil -lint` and
`launchctl bootstrap gui/$UID …` are the checks.
"""

from __future__ import annotations

import plistlib
from pathlib import Path
from typing import Any

import pytest
from seatkeeper.platform import macos
from seatkeeper.platform.base import SHUTDOWN_BUDGET_S
from seatkeeper.service import autostart

from tests.support.procs import REPO_ROOT

INSTALLED = REPO_ROOT / "installer" / "macos-launchagent" / "com.seatkeeper.agent.plist"
# launchd.plist(5) keys a per-user agent may use; anything else is a typo launchd ignores.
LAUNCHD_KEYS = {"Label", "ProgramArguments", "Program", "RunAtLoad", "KeepAlive",
                "LimitLoadToSessionType", "ProcessType", "ExitTimeOut", "EnvironmentVariables",
                "StandardOutPath", "StandardErrorPath", "WorkingDirectory"}


@pytest.fixture
def written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The plist `seatkeeper autostart enable` writes on macOS, in a temporary home."""
    monkeypatch.setenv("HOME", str(tmp_path))
    state = autostart.enable(macos.MacPlatform())
    assert state.enabled and state.platform == "macos"
    path = Path(str(state.location))
    assert path == tmp_path / "Library" / "LaunchAgents" / "com.seatkeeper.agent.plist"
    return path


def check_launchd_keys(path: Path) -> dict[str, Any]:
    """What launchd needs to start the agent in the user's GUI session and stop it in time."""
    plist: dict[str, Any] = plistlib.loads(path.read_bytes())
    assert set(plist) <= LAUNCHD_KEYS, set(plist) - LAUNCHD_KEYS
    assert plist["Label"] == path.stem == macos.LABEL
    arguments = plist["ProgramArguments"]
    assert isinstance(arguments, list) and all(isinstance(a, str) for a in arguments)
    assert arguments[0].startswith("/") and arguments[-1] == "run"
    assert plist["RunAtLoad"] is True
    assert plist["LimitLoadToSessionType"] == "Aqua"  # the tray needs the GUI session
    assert plist["ProcessType"] == "Interactive"
    # launchd's SIGTERM at logout: time for the release before SIGKILL.
    assert isinstance(plist["ExitTimeOut"], int) and plist["ExitTimeOut"] > SHUTDOWN_BUDGET_S
    return plist


def test_installer_launch_agent_has_what_launchd_needs() -> None:
    """The shipped plist: label, absolute program, run at load in Aqua, exit timeout."""
    plist = check_launchd_keys(INSTALLED)
    assert plist["ProgramArguments"][0].startswith("/Applications/Seatkeeper.app/")


def test_autostart_enable_writes_what_launchd_needs(written: Path) -> None:
    """`autostart enable` on macOS: the same keys, pointing at this agent's executable."""
    plist = check_launchd_keys(written)
    assert Path(plist["ProgramArguments"][0]).exists()


def test_both_plists_carry_the_same_keys(written: Path) -> None:
    """The installer's file and the written one stay in step."""
    assert set(plistlib.loads(INSTALLED.read_bytes())) == \
        set(plistlib.loads(written.read_bytes()))
