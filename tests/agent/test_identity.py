"""Device identity: a stable, private fingerprint per data directory per machine."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import pytest
from seatkeeper.core.errors import StorageError
from seatkeeper.core.identity import default_device_name, fingerprint, is_install_id, platform_name
from seatkeeper.service import identity

MACHINE = "0123456789abcdef0123456789abcdef"


def test_fingerprint_is_stable_and_hides_the_machine_id() -> None:
    """Same inputs, same fingerprint; the raw machine id is not in it."""
    install = "a" * 32
    first = fingerprint(MACHINE, install)
    assert first == fingerprint(MACHINE.upper() + "\n", install)
    assert len(first) == 64 and MACHINE not in first
    assert first != fingerprint(MACHINE, "b" * 32)
    assert first != fingerprint("other-machine", install)


def test_fingerprint_rejects_bad_install_id() -> None:
    """The install id must be what `install_id` makes."""
    with pytest.raises(ValueError):
        fingerprint(MACHINE, "short")
    assert not is_install_id("A" * 32) and is_install_id("0" * 32)


@pytest.mark.parametrize(("raw", "name"), [("linux", "linux"), ("win32", "windows"),
                                           ("darwin", "macos"), ("freebsd14", "freebsd14")])
def test_platform_names(raw: str, name: str) -> None:
    """sys.platform values map to the protocol's platform names."""
    assert platform_name(raw) == name


def test_install_id_created_once_owner_only(tmp_path: Path) -> None:
    """The first run makes a private id file; later runs read the same id."""
    data = tmp_path / "data"
    first = identity.install_id(data)
    assert identity.install_id(data) == first and is_install_id(first)
    assert stat.S_IMODE(os.stat(data / "device-id").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(data).st_mode) == 0o700
    assert [p.name for p in data.iterdir()] == ["device-id"]


def test_two_homes_are_two_devices(tmp_path: Path) -> None:
    """Two data directories on one machine give two fingerprints (tests rely on it)."""
    a = identity.device_fingerprint(tmp_path / "a")
    b = identity.device_fingerprint(tmp_path / "b")
    assert a != b and a == identity.device_fingerprint(tmp_path / "a")


def test_corrupt_install_id_is_a_storage_error(tmp_path: Path) -> None:
    """A damaged id file is reported with what to do, not silently replaced."""
    (tmp_path / "device-id").write_text("garbage")
    with pytest.raises(StorageError, match="delete it"):
        identity.install_id(tmp_path)


def test_linux_machine_id_falls_back_to_dbus(tmp_path: Path) -> None:
    """Without /etc/machine-id, D-Bus's copy is used; with neither, None."""
    etc, dbus = tmp_path / "etc-machine-id", tmp_path / "dbus-machine-id"
    dbus.write_text(MACHINE + "\n")
    assert identity.read_linux_machine_id((etc, dbus)) == MACHINE
    etc.write_text("")
    assert identity.read_linux_machine_id((etc, dbus)) == MACHINE
    assert identity.read_linux_machine_id((tmp_path / "none",)) is None


def test_windows_machine_guid(monkeypatch: pytest.MonkeyPatch) -> None:
    """MachineGuid is read from the registry (winreg replaced by a fake on Linux)."""
    opened: list[str] = []

    class Key:
        def __enter__(self) -> Key:
            return self

        def __exit__(self, *_: object) -> None:
            pass

    def open_key(_hive: object, sub: str, _reserved: int, _flags: int) -> Key:
        opened.append(sub)
        return Key()

    fake = types.SimpleNamespace(KEY_READ=1, KEY_WOW64_64KEY=2, HKEY_LOCAL_MACHINE=3,
                                 OpenKey=open_key,
                                 QueryValueEx=lambda _key, name: ("guid-" + name, 1))
    monkeypatch.setitem(sys.modules, "winreg", fake)
    assert identity.read_windows_machine_guid() == "guid-MachineGuid"
    assert opened == [r"SOFTWARE\Microsoft\Cryptography"]


def test_macos_platform_uuid(monkeypatch: pytest.MonkeyPatch) -> None:
    """IOPlatformUUID is parsed from ioreg's output; a failing ioreg gives None."""
    out = '  "IOPlatformSerialNumber" = "X"\n  "IOPlatformUUID" = "5A1B-77"\n'

    def run(*_a: Any, **_k: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess([], 0, stdout=out)

    monkeypatch.setattr(subprocess, "run", run)
    assert identity.read_macos_platform_uuid() == "5A1B-77"

    def broken(*_a: Any, **_k: Any) -> subprocess.CompletedProcess[str]:
        raise FileNotFoundError("ioreg")

    monkeypatch.setattr(subprocess, "run", broken)
    assert identity.read_macos_platform_uuid() is None


def test_machine_id_dispatch_and_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each OS uses its own reader; without an id the result is empty, not an error."""
    monkeypatch.setitem(identity.READERS, "windows", lambda: "win-guid")
    monkeypatch.setitem(identity.READERS, "macos", lambda: None)
    assert identity.machine_id("win32") == "win-guid"
    assert identity.machine_id("darwin") == ""
    assert identity.machine_id("sunos5") == ""


@pytest.mark.parametrize(("host", "name"), [
    ("survey-laptop", "survey-laptop"), ("survey-laptop.corp.example", "survey-laptop"),
    ("Mac-Pro.local.", "Mac-Pro"), ("", "unnamed computer"), ("10.1.2.3", "unnamed computer"),
    ("fe80::1", "unnamed computer"), ("x" * 100, "x" * 64),
])
def test_default_device_name(host: str, name: str) -> None:
    """The host name becomes a short name other devices can recognise."""
    assert default_device_name(host) == name
