"""Device identity on disk: the machine id (one small function per OS) and the install id."""

from __future__ import annotations

import importlib
import logging
import os
import re
import secrets
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from seatkeeper.core.errors import StorageError
from seatkeeper.core.identity import fingerprint, is_install_id, platform_name
from seatkeeper.service.private import owner_only

log = logging.getLogger(__name__)

LINUX_MACHINE_ID_FILES = (Path("/etc/machine-id"), Path("/var/lib/dbus/machine-id"))
INSTALL_ID_FILE = "device-id"


def read_linux_machine_id(files: tuple[Path, ...] = LINUX_MACHINE_ID_FILES) -> str | None:
    """systemd's /etc/machine-id, else D-Bus's copy; None when neither is readable."""
    for path in files:
        try:
            text = path.read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError):
            continue
        if text:
            return text
    return None


def read_windows_machine_guid() -> str | None:
    """HKLM\\SOFTWARE\\Microsoft\\Cryptography\\MachineGuid (winreg imported here only)."""
    try:
        winreg: Any = importlib.import_module("winreg")
    except ImportError:
        return None
    try:
        flags = winreg.KEY_READ | getattr(winreg, "KEY_WOW64_64KEY", 0)
        with winreg.OpenKey(winreg.HKEY_LOCAL_MACHINE, r"SOFTWARE\Microsoft\Cryptography",
                            0, flags) as key:
            value, _kind = winreg.QueryValueEx(key, "MachineGuid")
    except OSError:
        return None
    return str(value) if value else None


def read_macos_platform_uuid() -> str | None:
    """IOPlatformUUID from `ioreg` (subprocess imported here only)."""
    import subprocess

    try:
        out = subprocess.run(["/usr/sbin/ioreg", "-rd1", "-c", "IOPlatformExpertDevice"],
                             capture_output=True, text=True, timeout=5, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r'"IOPlatformUUID"\s*=\s*"([^"]+)"', out)
    return match.group(1) if match else None


READERS: dict[str, Callable[[], str | None]] = {
    "linux": read_linux_machine_id,
    "windows": read_windows_machine_guid,
    "macos": read_macos_platform_uuid,
}


def machine_id(sys_platform: str = sys.platform) -> str:
    """This machine's id; empty (with a warning) when the OS will not tell, so the
    install id alone then tells devices apart. Never logged, never sent."""
    reader = READERS.get(platform_name(sys_platform))
    value = reader() if reader is not None else None
    if not value:
        log.warning("no machine id on this system; the device is told apart by its "
                    "install id alone")
        return ""
    return value


def _read_install_id(path: Path) -> str:
    text = path.read_text(encoding="ascii").strip()
    if not is_install_id(text):
        raise StorageError(f"{path} does not hold a device id; delete it to have a new one "
                           "made (this computer then counts as a new device).")
    return text


def install_id(data_dir: Path) -> str:
    """The random id of this data directory, made on first run (owner-only file).

    Written to a private temporary file, then linked into place, so a second
    process starting at the same moment reads either nothing or the whole id.
    """
    path = data_dir / INSTALL_ID_FILE
    try:
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        owner_only(data_dir)
        if path.exists():
            return _read_install_id(path)
        value = secrets.token_hex(16)
        temp = data_dir / f".{INSTALL_ID_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="ascii") as handle:
                handle.write(value + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            try:
                os.link(temp, path)
            except FileExistsError:
                return _read_install_id(path)
        finally:
            temp.unlink(missing_ok=True)
        return value
    except (OSError, UnicodeDecodeError) as exc:
        raise StorageError(f"The device id file {path} cannot be used: {exc}.") from None


def device_fingerprint(data_dir: Path, sys_platform: str = sys.platform) -> str:
    """The fingerprint sent at login: hash of machine id and this data directory's id."""
    return fingerprint(machine_id(sys_platform), install_id(data_dir))


def device_platform(sys_platform: str = sys.platform) -> str:
    """The platform name sent at login."""
    return platform_name(sys_platform)
