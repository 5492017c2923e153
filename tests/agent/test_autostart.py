"""Start at login: the installer's entries pass the real validators; enable/disable round trip."""

from __future__ import annotations

import json
import os
import plistlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from seatkeeper.platform import linux

from tests.support.procs import REPO_ROOT

INSTALLER = REPO_ROOT / "installer"


def need(tool: str) -> str:
    found = shutil.which(tool)
    if found is None:
        pytest.skip(f"{tool} is not installed (scripts/test installs it when run as root)")
    return found


def validate_desktop(path: Path) -> None:
    done = subprocess.run([need("desktop-file-validate"), str(path)], capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0 and not done.stdout.strip(), done.stdout + done.stderr


def cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SEATKEEPER_", "XDG_CONFIG_HOME"))}
    env.update(HOME=str(home), SEATKEEPER_HOME=str(home / "seatkeeper"),
               SEATKEEPER_PLATFORM="linux")
    return subprocess.run([sys.executable, "-m", "seatkeeper", "autostart", *args], cwd=REPO_ROOT,
                          env=env, capture_output=True, text=True, timeout=60, check=False)


def test_xdg_autostart_entry_passes_desktop_file_validate() -> None:
    """installer/linux-xdg-autostart/seatkeeper.desktop: no errors, no warnings."""
    validate_desktop(INSTALLER / "linux-xdg-autostart" / "seatkeeper.desktop")


def test_systemd_user_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    """The user unit verifies, bound to graphical-session.target, with a real ExecStart."""
    tool = need("systemd-analyze")
    unit = (INSTALLER / "linux-systemd-user" / "seatkeeper.service").read_text()
    assert "PartOf=graphical-session.target" in unit
    assert "WantedBy=graphical-session.target" in unit
    agent = Path(sys.executable).with_name("seatkeeper")
    assert agent.is_file(), "the test environment's seatkeeper script"
    copy = tmp_path / "seatkeeper.service"
    copy.write_text(unit.replace("/usr/bin/seatkeeper", str(agent)))
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    done = subprocess.run([tool, "--user", "verify", str(copy)], capture_output=True,
                          text=True, check=False,
                          env={**os.environ, "XDG_RUNTIME_DIR": str(runtime)})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "seatkeeper.service" not in done.stderr, done.stderr


def test_launch_agent_plist_runs_at_load_in_the_aqua_session() -> None:
    """installer/macos-launchagent: a valid plist with RunAtLoad and LimitLoadToSessionType Aqua."""
    path = INSTALLER / "macos-launchagent" / "com.seatkeeper.agent.plist"
    plist = plistlib.loads(path.read_bytes())
    assert plist["Label"] == "com.seatkeeper.agent"
    assert plist["RunAtLoad"] is True and plist["LimitLoadToSessionType"] == "Aqua"
    assert plist["ProgramArguments"][-1] == "run"


def test_every_installer_folder_has_a_readme() -> None:
    """One folder per OS and mechanism, each explained."""
    folders = [p for p in INSTALLER.iterdir() if p.is_dir()]
    assert folders
    assert [p.name for p in folders if not (p / "README.md").is_file()] == []


def test_exec_line_quotes_paths_with_spaces() -> None:
    """A path with a space is quoted as the desktop entry spec says; % is doubled."""
    assert linux.exec_line(["/opt/seat keeper/bin/seatkeeper", "run"]) == \
        '"/opt/seat keeper/bin/seatkeeper" run'
    assert linux.exec_line(["/opt/100%/seatkeeper"]) == "/opt/100%%/seatkeeper"


def test_enable_disable_round_trip_in_a_temporary_home(tmp_path: Path) -> None:
    """`autostart enable` writes a valid entry under ~/.config/autostart; `disable` removes it."""
    home = tmp_path / "home with space"
    entry = home / ".config" / "autostart" / "seatkeeper.desktop"

    off = cli(home, "status", "--json")
    assert off.returncode == 0, off.stderr
    assert json.loads(off.stdout) == {"available": True, "enabled": False,
                                      "location": str(entry), "platform": "linux",
                                      "managed": False}

    on = cli(home, "enable")
    assert on.returncode == 0, on.stderr
    assert f"Start at login is on ({entry})" in on.stdout
    validate_desktop(entry)
    assert "Exec=" in entry.read_text() and " run\n" in entry.read_text()
    assert json.loads(cli(home, "status", "--json").stdout)["enabled"] is True

    disabled = cli(home, "disable")
    assert disabled.returncode == 0 and "Start at login is off" in disabled.stdout
    assert not entry.exists()
    assert cli(home, "disable").returncode == 0  # nothing to remove is fine


def test_autostart_not_available_says_so(tmp_path: Path) -> None:
    """On a system with no start-at-login mechanism, enable fails with a plain sentence."""
    env = {**os.environ, "HOME": str(tmp_path), "SEATKEEPER_HOME": str(tmp_path / "sk"),
           "SEATKEEPER_PLATFORM": "null"}
    done = subprocess.run([sys.executable, "-m", "seatkeeper", "autostart", "enable"],
                          cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 1
    assert "not available on this system (null)" in done.stdout


def test_windows_login_entry_runs_pythonw(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On Windows the Run value starts pythonw.exe (no console window at every login)."""
    from seatkeeper.service import autostart

    (tmp_path / "python.exe").touch()
    (tmp_path / "pythonw.exe").touch()
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python.exe"))
    assert autostart.agent_command("win32") == [str(tmp_path / "pythonw.exe"), "-m",
                                                "seatkeeper", "run"]
