"""The Windows bundle and MSI, built and installed as an administrator would, under Wine.

`build_bundle()` runs PyInstaller on the Windows CPython of the prefix (this checkout's
wheel installed there), `build_msi()` runs installer/windows-msi/build-msi (wixl, natively),
`msiexec()` runs Wine's Windows Installer, and `reg_values()` reads a registry key back
with Wine's own `reg query`, as an administrator would look at it.
"""

from __future__ import annotations

import os
import struct
import subprocess
from pathlib import Path

from tests.windows import wine

SPEC = wine.REPO_ROOT / "installer" / "pyinstaller" / "seatkeeper.spec"
BUILD_MSI = wine.REPO_ROOT / "installer" / "windows-msi" / "build-msi"
PROGRAM_DIR = wine.PREFIX / "drive_c" / "Program Files" / "Seatkeeper"
BUNDLE_TIMEOUT_S = 900.0
# The PE optional header's Subsystem field: no console (GUI) or a console program.
SUBSYSTEM_GUI, SUBSYSTEM_CONSOLE = 2, 3


def build_bundle(out: Path) -> Path:
    """`pyinstaller seatkeeper.spec` on the Windows CPython: the bundle's folder."""
    done = wine.run_python(
        ["-m", "PyInstaller", "--noconfirm", "--log-level", "WARN",
         "--distpath", wine.windows_path(out / "dist"),
         "--workpath", wine.windows_path(out / "build"), wine.windows_path(SPEC)],
        timeout=BUNDLE_TIMEOUT_S)
    bundle = out / "dist" / "seatkeeper"
    assert done.returncode == 0 and bundle.is_dir(), done.stdout[-4000:]
    return bundle


def build_msi(bundle: Path, msi: Path, version: str | None = None) -> Path:
    """installer/windows-msi/build-msi BUNDLE MSI (wixl and msibuild, on Linux); `version`
    builds the same bundle as another product version (an upgrade)."""
    env = {**os.environ, "SEATKEEPER_MSI_VERSION": version} if version else None
    done = subprocess.run([str(BUILD_MSI), str(bundle), str(msi)], capture_output=True,
                          text=True, timeout=300, check=False, env=env)
    assert done.returncode == 0 and msi.is_file(), done.stdout + done.stderr
    return msi


def msiexec(*args: str, log: Path, timeout: float = 300.0) -> tuple[int, str]:
    """Wine's `msiexec ARGS /l*v LOG`: the Windows Installer's exit code and its log.

    Its output goes to a file, not a pipe: the installer may start Wine's background
    programs (a desktop's explorer), which would hold a pipe open after msiexec exits."""
    with log.with_suffix(".out").open("w") as out:
        done = subprocess.run(["wine", "msiexec", *args, "/l*v", wine.windows_path(log)],
                              stdin=subprocess.PIPE, stdout=out, stderr=subprocess.STDOUT,
                              env=wine.wine_env(), timeout=timeout, check=False)
    text = log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""
    return done.returncode, text


def reg_values(key: str) -> dict[str, tuple[str, str]] | None:
    """`reg query KEY`: {name: (type, data)}, or None when the key does not exist."""
    done = subprocess.run(["wine", "reg", "query", key], input="", stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, errors="replace",
                          env=wine.wine_env(), timeout=60, check=False)
    if done.returncode != 0:
        return None
    values: dict[str, tuple[str, str]] = {}
    for line in done.stdout.splitlines():
        parts = line.strip().split(None, 2)
        if len(parts) >= 2 and parts[1].startswith("REG_"):
            values[parts[0]] = (parts[1], parts[2] if len(parts) == 3 else "")
    return values


def reg_set(key: str, name: str, data: str, kind: str = "REG_SZ") -> None:
    """`reg add KEY /v NAME /t KIND /d DATA /f` (asserts it worked)."""
    done = subprocess.run(["wine", "reg", "add", key, "/v", name, "/t", kind, "/d", data, "/f"],
                          input="", stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, errors="replace", env=wine.wine_env(), timeout=60,
                          check=False)
    assert done.returncode == 0, done.stdout


def reg_delete(key: str, name: str | None = None) -> None:
    """`reg delete KEY [/v NAME] /f`: a test's leftovers go, whatever state it stopped in."""
    value = ["/v", name] if name is not None else []
    subprocess.run(["wine", "reg", "delete", key, *value, "/f"], input="", capture_output=True,
                   text=True, env=wine.wine_env(), timeout=60, check=False)


def pe_subsystem(exe: Path) -> int:
    """The Windows subsystem an executable asks for (2: no console, 3: a console)."""
    data = exe.read_bytes()[:4096]
    (pe_offset,) = struct.unpack_from("<I", data, 0x3C)
    assert data[pe_offset:pe_offset + 4] == b"PE\0\0", f"{exe} is not a PE executable"
    optional_header = pe_offset + 24
    (subsystem,) = struct.unpack_from("<H", data, optional_header + 68)
    return int(subsystem)
