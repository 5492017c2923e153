"""Start at login on Windows: `seatkeeper autostart` writes and removes the per-user Run value."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path, PureWindowsPath

import pytest

from tests.windows import wine

RUN_KEY = r"HKCU\Software\Microsoft\Windows\CurrentVersion\Run"
LOCATION = r"HKEY_CURRENT_USER\Software\Microsoft\Windows\CurrentVersion\Run\Seatkeeper"


def autostart(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return wine.run_python(["-m", "seatkeeper", "autostart", *args],
                           env={"SEATKEEPER_HOME": wine.windows_path(home)})


def run_value() -> str | None:
    """The Run key's Seatkeeper value as `reg query` reads it from Wine's registry."""
    done = subprocess.run(["wine", "reg", "query", RUN_KEY, "/v", "Seatkeeper"],
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, env=wine.wine_env(),
                          timeout=wine.WINE_TIMEOUT_S, check=False)
    for line in done.stdout.splitlines():
        parts = line.split(None, 2)
        if len(parts) == 3 and parts[0] == "Seatkeeper":
            assert parts[1] == "REG_SZ", line
            return parts[2].strip()
    return None


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    """A fresh agent home; the Run value is gone before and after the test."""
    subprocess.run(["wine", "reg", "delete", RUN_KEY, "/v", "Seatkeeper", "/f"],
                   stdin=subprocess.PIPE, capture_output=True, env=wine.wine_env(),
                   timeout=wine.WINE_TIMEOUT_S, check=False)
    yield tmp_path
    autostart(tmp_path, "disable")


def test_enable_writes_the_run_value_and_disable_removes_it(home: Path) -> None:
    """enable: HKCU\\…\\Run\\Seatkeeper starts the agent; disable: the value is gone."""
    assert run_value() is None
    done = autostart(home, "enable")
    assert done.returncode == 0, done.stdout
    assert "Start at login is on" in done.stdout and LOCATION in done.stdout

    value = run_value()
    assert value is not None, "autostart enable wrote no Run value"
    assert value.endswith(" -m seatkeeper run"), value
    program = PureWindowsPath(value.removesuffix(" -m seatkeeper run").strip('"'))
    # pythonw.exe: no console window opens at every login.
    assert program.name == "pythonw.exe", value
    assert (wine.PREFIX / "drive_c" / Path(*program.parts[1:])).is_file(), value

    status = json.loads(autostart(home, "status", "--json").stdout)
    assert status == {"available": True, "enabled": True, "location": LOCATION,
                      "platform": "windows", "managed": False}

    done = autostart(home, "disable")
    assert done.returncode == 0, done.stdout
    assert run_value() is None
    status = json.loads(autostart(home, "status", "--json").stdout)
    assert status["enabled"] is False


def test_disable_when_not_enabled_is_not_an_error(home: Path) -> None:
    """disable with no Run value says start at login is off, and exits 0."""
    done = autostart(home, "disable")
    assert done.returncode == 0, done.stdout
    assert "Start at login is off" in done.stdout
    assert "Traceback" not in done.stdout
