"""The Windows lane's harness: the python.org CPython for Windows under Wine, running this checkout.

scripts/wine-python builds the prefix (`.wine/prefix`, CPython in `C:\\Python313`, the agent's
Windows dependencies in its site-packages). `install_checkout()` builds a wheel from the work
tree and installs it there, so the tests always run the code in front of them.

Wine's CPython needs a pipe, not a file, for its standard streams (`init_sys_streams`
fails otherwise): every call here pipes stdin, stdout and stderr.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path, PureWindowsPath

from tests.support.procs import REPO_ROOT

WINE_DIR = REPO_ROOT / ".wine"
PREFIX = WINE_DIR / "prefix"
PYTHON_DIR = PREFIX / "drive_c" / "Python313"
PYTHON = PYTHON_DIR / "python.exe"
SITE_PACKAGES = PYTHON_DIR / "Lib" / "site-packages"
VENV_BIN = REPO_ROOT / ".venv" / "bin"
WINE_TIMEOUT_S = 120.0


def lane_missing() -> str | None:
    """Why the Windows lane cannot run here, or None when it can."""
    if shutil.which("wine") is None:
        return "wine is not installed (./scripts/test installs it when run as root)"
    if not PYTHON.exists():
        return f"{PYTHON} is missing: run ./scripts/test (scripts/wine-python builds it)"
    return None


def windows_path(path: Path) -> str:
    """The path a Windows program under Wine sees for a Linux path (Wine maps / to Z:)."""
    return str(PureWindowsPath("Z:\\") / PureWindowsPath(*path.resolve().parts[1:]))


def wine_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a Wine call: this prefix, quiet, crashes exit instead of debugging."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("SEATKEEPER_", "PYTHON", "VIRTUAL_ENV"))}
    env.update(WINEPREFIX=str(PREFIX), WINEDEBUG="-all",
               WINEDLLOVERRIDES="winedbg.exe=d;mscoree,mshtml=d", PYTHONUTF8="1",
               PYTHONIOENCODING="utf-8",
               # A crash (an access violation in a native module) prints the Python stacks
               # instead of ending the process silently: Wine's own report is muted here.
               PYTHONFAULTHANDLER="1")
    env.update(extra or {})
    return env


def wine_command(*args: str) -> list[str]:
    return ["wine", str(PYTHON), *args]


def run_python(args: Sequence[str], *, env: Mapping[str, str] | None = None, input: str = "",
               timeout: float = WINE_TIMEOUT_S, cwd: Path | None = None
               ) -> subprocess.CompletedProcess[str]:
    """Run the Windows CPython with `args`; stdout and stderr come back together, as text."""
    return subprocess.run(wine_command(*args), input=input, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, encoding="utf-8",
                          errors="replace", env=wine_env(env), timeout=timeout,
                          cwd=cwd or REPO_ROOT, check=False)


def start_wineserver() -> None:
    """Keep one wineserver for the session, so each Windows process starts in about a second.

    Wine's own background processes (services.exe, explorer.exe, …) start with the first
    program and outlive it; started here with no pipes, they never hold a test's pipe open.
    """
    subprocess.run(["wineserver", "--persistent"], env=wine_env(), stdin=subprocess.DEVNULL,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60, check=False)
    subprocess.run(["wine", "wineboot"], env=wine_env(), stdin=subprocess.DEVNULL,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=WINE_TIMEOUT_S,
                   check=False)


def stop_wineserver() -> None:
    """End every Windows process of this prefix, and the wineserver."""
    subprocess.run(["wineserver", "--kill"], env=wine_env(), timeout=60, check=False)
    subprocess.run(["wineserver", "--wait"], env=wine_env(), timeout=60, check=False)


def build_wheel(out_dir: Path) -> Path:
    """A wheel of the work tree, as a user would install it."""
    subprocess.run([str(VENV_BIN / "uv"), "build", "--quiet", "--wheel", "-o", str(out_dir),
                    str(REPO_ROOT)], check=True, timeout=300, capture_output=True)
    (wheel,) = out_dir.glob("seatkeeper-*.whl")
    return wheel


def install_checkout(wheel: Path) -> None:
    """Replace the prefix's seatkeeper with `wheel` (its dependencies are there already)."""
    for old in SITE_PACKAGES.glob("seatkeeper*"):
        shutil.rmtree(old) if old.is_dir() else old.unlink()
    subprocess.run([str(VENV_BIN / "uv"), "pip", "install", "--quiet", "--no-deps",
                    "--target", str(SITE_PACKAGES), "--python-platform", "x86_64-pc-windows-msvc",
                    "--python-version", "3.13", str(wheel)],
                   check=True, timeout=300, capture_output=True)
