r"""The MSI as an administrator deploys it: built from this checkout, installed, run, removed.

The bundle is built once per session by PyInstaller on the Windows CPython under Wine, the
MSI by wixl on Linux; Wine's `msiexec` installs it per machine with the server's address
as a property. The installed agent runs as Windows would start it at login (the machine's
Run value, on a Wine desktop under Xvfb) against the real server on 127.0.0.1. The tests
of this module follow one installation through its life, in order.

That desktop is made the prefix's default one (Wine's `Explorer\Desktop` value) while the
agent runs, so that the uninstaller, like an administrator's uninstall in the user's
session on Windows, reaches the agent's windows with its WM_CLOSE.
"""

from __future__ import annotations

import getpass
import json
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path, PureWindowsPath
from typing import Any

import pytest

from tests.desktop.screen import _free_display
from tests.scenarios.common import ScenarioServer, live_leases
from tests.support.api import Api
from tests.windows import installer, wine

# The bundle build takes about a minute on two idle cores, many more on a busy machine.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]
POLICY = r"HKLM\SOFTWARE\Policies\Seatkeeper"
MACHINE_RUN = r"HKLM\Software\Microsoft\Windows\CurrentVersion\Run"
SESSION_MANAGER = r"HKLM\System\CurrentControlSet\Control\Session Manager"
USER_RUN = r"HKCU\Software\Microsoft\Windows\CurrentVersion\Run"
WINE_EXPLORER = r"HKCU\Software\Wine\Explorer"
DESKTOP = "seatkeeper-msi"
PROGRAM = r"C:\Program Files\Seatkeeper\seatkeeper.exe"
# The user's own folder (platformdirs' user_data_dir on Windows): config, data and logs.
USER_DIR = wine.PREFIX / "drive_c" / "users" / getpass.getuser() / "AppData" / "Local" / \
    "seatkeeper"


@pytest.fixture(scope="session")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Windows bundle, built once per session (about a minute on two cores)."""
    return installer.build_bundle(tmp_path_factory.mktemp("win-bundle"))


@pytest.fixture(scope="session")
def msi(bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return installer.build_msi(bundle, tmp_path_factory.mktemp("msi") / "seatkeeper.msi")


@pytest.fixture(scope="module")
def display() -> Iterator[str]:
    """An X server for the Windows desktop the installed agent's tray lives on."""
    number = _free_display()
    xvfb = subprocess.Popen(["Xvfb", f":{number}", "-screen", "0", "1024x768x24",
                             "-nolisten", "tcp"], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while not Path(f"/tmp/.X11-unix/X{number}").exists():
        assert xvfb.poll() is None and time.monotonic() < deadline, "Xvfb did not start"
        time.sleep(0.1)
    try:
        yield f":{number}"
    finally:
        xvfb.terminate()
        xvfb.wait(timeout=10)


@pytest.fixture(scope="module")
def installed(msi: Path, server: ScenarioServer) -> Iterator[Path]:
    """`msiexec /i seatkeeper.msi /qn SERVER_URL=… LOCK_SERVER_URL=1`; removed afterwards
    whatever state the tests left (the prefix is shared with the rest of the lane)."""
    shutil.rmtree(USER_DIR, ignore_errors=True)
    installer.reg_delete(POLICY)  # what an interrupted run may have left
    code, log = installer.msiexec("/i", wine.windows_path(msi), "/qn",
                                  f"SERVER_URL={server.url}", "LOCK_SERVER_URL=1",
                                  log=msi.with_name("install.log"))
    assert code == 0, log[-4000:]
    try:
        yield msi
    finally:
        installer.msiexec("/x", wine.windows_path(msi), "/qn",
                          log=msi.with_name("cleanup.log"))
        installer.reg_delete(POLICY)
        shutil.rmtree(USER_DIR, ignore_errors=True)


# Run on the Windows CPython, on the agent's desktop: the message box titled Seatkeeper,
# its texts, then closed (WM_CLOSE, as Esc would).
MESSAGE_BOX_PROBE = """
import ctypes, json, time
from ctypes import wintypes
user32 = ctypes.windll.user32
hwnd, deadline = 0, time.monotonic() + 30
while not hwnd and time.monotonic() < deadline:
    hwnd = user32.FindWindowW("#32770", "Seatkeeper")
    time.sleep(0.2)
texts = []

@ctypes.WINFUNCTYPE(wintypes.BOOL, wintypes.HWND, wintypes.LPARAM)
def collect(child, _):
    buffer = ctypes.create_unicode_buffer(4096)
    user32.GetWindowTextW(child, buffer, 4096)
    texts.append(buffer.value)
    return True

if hwnd:
    user32.EnumChildWindows(hwnd, collect, 0)
    user32.PostMessageW(hwnd, 0x0010, 0, 0)
print(json.dumps({"found": bool(hwnd), "texts": texts}))
"""


def program(*args: str, input: str = "") -> subprocess.CompletedProcess[str]:
    """The installed `seatkeeper.exe ARGS` for the Wine user, in their own folders."""
    return subprocess.run(["wine", PROGRAM, *args], input=input, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, errors="replace",
                          env=wine.wine_env(), timeout=wine.WINE_TIMEOUT_S, check=False)


def status() -> dict[str, Any]:
    done = program("status", "--json")
    assert done.returncode == 0, done.stdout
    parsed: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return parsed


def test_bundle_autostart_enable_starts_the_windowed_twin(bundle: Path) -> None:
    """From the bundle (no MSI yet), `autostart enable` writes HKCU's Run value for
    seatkeeperw.exe, so no console window opens at login; `disable` removes it."""
    exe = wine.windows_path(bundle / "seatkeeper.exe")
    try:
        on = subprocess.run(["wine", exe, "autostart", "enable"], input="",
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            errors="replace", env=wine.wine_env(),
                            timeout=wine.WINE_TIMEOUT_S, check=False)
        assert on.returncode == 0, on.stdout
        value = (installer.reg_values(USER_RUN) or {}).get("Seatkeeper")
        windowed = wine.windows_path(bundle / "seatkeeperw.exe")
        assert value == ("REG_SZ", subprocess.list2cmdline([windowed, "run"]))
    finally:
        off = subprocess.run(["wine", exe, "autostart", "disable"], input="",
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             errors="replace", env=wine.wine_env(),
                             timeout=wine.WINE_TIMEOUT_S, check=False)
    assert off.returncode == 0, off.stdout
    assert "Seatkeeper" not in (installer.reg_values(USER_RUN) or {})


def test_msi_installs_the_console_and_windowed_agents(installed: Path) -> None:
    """Program Files holds seatkeeper.exe (a console program) and seatkeeperw.exe (none)."""
    assert installer.pe_subsystem(installer.PROGRAM_DIR / "seatkeeper.exe") == \
        installer.SUBSYSTEM_CONSOLE
    assert installer.pe_subsystem(installer.PROGRAM_DIR / "seatkeeperw.exe") == \
        installer.SUBSYSTEM_GUI
    assert (installer.PROGRAM_DIR / "_internal").is_dir()


def test_msi_writes_the_policy_and_every_users_start_at_login(
        installed: Path, server: ScenarioServer) -> None:
    """The properties land in the policy key; the machine's Run value starts seatkeeperw.exe."""
    assert installer.reg_values(POLICY) == {"server_url": ("REG_SZ", server.url),
                                            "locked": ("REG_MULTI_SZ", "server_url")}
    run = installer.reg_values(MACHINE_RUN)
    assert run is not None
    assert run["Seatkeeper"] == \
        ("REG_SZ", r'"C:\Program Files\Seatkeeper\seatkeeperw.exe" run')


def test_autostart_is_the_administrators_and_the_user_cannot_disable_it(
        installed: Path) -> None:
    """`autostart status` says the administrator set it; `disable` needs an administrator."""
    shown = program("autostart", "status", "--json")
    assert shown.returncode == 0, shown.stdout
    assert json.loads(shown.stdout.strip().splitlines()[-1]) == {
        "available": True, "enabled": True, "managed": True, "platform": "windows",
        "location": r"HKEY_LOCAL_MACHINE\Software\Microsoft\Windows\CurrentVersion\Run"
                    r"\Seatkeeper"}
    refused = program("autostart", "disable")
    assert refused.returncode == 1, refused.stdout
    assert "administrator" in refused.stdout and "Traceback" not in refused.stdout
    assert installer.reg_values(MACHINE_RUN) is not None


@pytest.fixture(scope="module")
def running(installed: Path, display: str, server: ScenarioServer,
            api: Api) -> Iterator[dict[str, Any]]:
    """The user logs in (no --server: the preset one) and the agent starts as at login:
    the Run value's command on a Wine desktop. Yields the license."""
    account, license = api.new_account(seats=1)
    USER_DIR.mkdir(parents=True, exist_ok=True)
    # The user's own file cannot move the locked server address elsewhere.
    (USER_DIR / "config.toml").write_text('server_url = "https://elsewhere.example.com"\n'
                                          'device_name = "msi-pc"\n', encoding="utf-8")
    login = program("login", "--email", account["email"], "--password-stdin",
                    input=account["password"] + "\n")
    assert login.returncode == 0, login.stdout
    assert "locked by HKEY_LOCAL_MACHINE\\SOFTWARE\\Policies\\Seatkeeper" in login.stdout

    run = installer.reg_values(MACHINE_RUN)
    assert run is not None
    found = re.fullmatch(r'"([^"]+)" (.*)', run["Seatkeeper"][1])
    assert found, run
    installer.reg_set(WINE_EXPLORER, "Desktop", DESKTOP)
    desktop = subprocess.Popen(
        ["wine", "explorer", f"/desktop={DESKTOP},1024x768", found[1], *found[2].split()],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env=wine.wine_env({"DISPLAY": display}))
    try:
        yield license
    finally:
        installer.reg_delete(WINE_EXPLORER, "Desktop")
        desktop.terminate()
        desktop.wait(timeout=30)


def test_installed_agent_takes_a_seat_from_the_preset_server(
        running: dict[str, Any], server: ScenarioServer, api: Api) -> None:
    """Started as at login, the installed agent holds a seat on the administrator's server."""
    deadline = time.monotonic() + 60
    shown = status()
    while not (shown["running"] and shown["state"] == "active") and time.monotonic() < deadline:
        time.sleep(0.5)
        shown = status()
    assert shown["running"] and shown["state"] == "active", shown
    assert shown["server"] == server.url
    leases = live_leases(api, running["id"])
    assert [lease["device"]["name"] for lease in leases] == ["msi-pc"], leases


def test_a_bad_policy_value_at_login_is_shown_in_a_message_box(
        running: dict[str, Any], display: str) -> None:
    """seatkeeperw.exe has no console: a wrong policy value is told in a message box."""
    installer.reg_set(POLICY, "seat_retry_s", "soon")
    try:
        login = subprocess.Popen(
            ["wine", "explorer", f"/desktop={DESKTOP},1024x768",
             str(PureWindowsPath(PROGRAM).with_name("seatkeeperw.exe")), "run"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env=wine.wine_env({"DISPLAY": display}))
        done = wine.run_python(["-c", MESSAGE_BOX_PROBE], env={"DISPLAY": display})
        login.wait(timeout=30)
    finally:
        installer.reg_delete(POLICY, "seat_retry_s")
    assert done.returncode == 0, done.stdout
    box = json.loads(done.stdout.strip().splitlines()[-1])
    assert box["found"], "no message box titled Seatkeeper"
    said = " ".join(box["texts"])
    assert "'seat_retry_s' should be a number of seconds" in said, said
    assert "Traceback" not in said


def test_uninstall_gives_the_seat_back_and_removes_program_run_value_and_policy(
        running: dict[str, Any], installed: Path, api: Api) -> None:
    """`msiexec /x /qn` closes the agent (seat released), removes the program, the Run value
    and the policy values; the user's folder (login, outbox) stays."""
    code, log = installer.msiexec("/x", wine.windows_path(installed), "/qn",
                                  log=installed.with_name("uninstall.log"))
    assert code == 0, log[-4000:]  # not 3010: no file was in use, nothing waits for a reboot
    assert "PendingFileRenameOperations" not in (installer.reg_values(SESSION_MANAGER) or {})
    assert not installer.PROGRAM_DIR.exists()
    assert "Seatkeeper" not in (installer.reg_values(MACHINE_RUN) or {})
    assert not installer.reg_values(POLICY)

    deadline = time.monotonic() + 5
    while live_leases(api, running["id"]) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert live_leases(api, running["id"]) == [], "the closed agent kept its seat"
    log_text = next(USER_DIR.glob("Logs/*.log")).read_text(encoding="utf-8")
    assert "WM_CLOSE: asked to close" in log_text
    assert (USER_DIR / "config.toml").is_file()
    assert (USER_DIR / "outbox.sqlite3").is_file()


def test_an_upgrade_without_the_properties_keeps_the_administrators_policy(
        bundle: Path, msi: Path, server: ScenarioServer) -> None:
    """A newer MSI installed over this one with no SERVER_URL (an upgrade pushed by Group
    Policy or Intune often carries none) keeps the address and its lock; the upgrade's
    uninstall then removes them."""
    import seatkeeper

    major, minor, patch = (int(part) for part in seatkeeper.__version__.split(".")[:3])
    version = f"{major}.{minor}.{patch + 1}"
    newer = installer.build_msi(bundle, msi.with_name("seatkeeper-newer.msi"), version=version)
    installer.reg_delete(POLICY)
    code, log = installer.msiexec("/i", wine.windows_path(msi), "/qn",
                                  f"SERVER_URL={server.url}", "LOCK_SERVER_URL=1",
                                  log=msi.with_name("before-upgrade.log"))
    assert code == 0, log[-4000:]
    try:
        code, log = installer.msiexec("/i", wine.windows_path(newer), "/qn",
                                      log=msi.with_name("upgrade.log"))
        assert code == 0, log[-4000:]
        assert f"ProductVersion = {version}" in log and "RemoveExistingProducts" in log
        assert installer.reg_values(POLICY) == {"server_url": ("REG_SZ", server.url),
                                                "locked": ("REG_MULTI_SZ", "server_url")}
        assert (installer.PROGRAM_DIR / "seatkeeper.exe").is_file()
    finally:
        code, log = installer.msiexec("/x", wine.windows_path(newer), "/qn",
                                      log=msi.with_name("after-upgrade.log"))
    assert code == 0, log[-4000:]
    assert not installer.reg_values(POLICY)
    assert not installer.reg_values(r"HKLM\SOFTWARE\Seatkeeper")
    assert not installer.PROGRAM_DIR.exists()
