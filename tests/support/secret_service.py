"""A real Secret Service for tests: Debian's gnome-keyring on a private D-Bus session bus.

    with SecretService(tmp_path / "keyring") as service:
        env = service.env               # DBUS_SESSION_BUS_ADDRESS, HOME, XDG_* for the agent
        service.secrets("seatkeeper")   # {username: secret} the agent keeps there

Both daemons are this test's own children (dbus-daemon, then gnome-keyring-daemon in the
foreground with its login keyring unlocked), kept under `base`, stopped on exit.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from tests.support.procs import stop_all

START_TIMEOUT_S = 15.0
PASSWORD = b"keyring-test-password"


def missing() -> str | None:
    """What is not installed, or None (scripts/test installs both packages)."""
    for tool, package in (("dbus-daemon", "dbus-daemon"),
                          ("gnome-keyring-daemon", "gnome-keyring")):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (Debian package {package})"
    return None


class SecretService:
    """dbus-daemon + gnome-keyring-daemon (secrets component) under `base`."""

    def __init__(self, base: Path) -> None:
        self.base = Path(base)
        self.home = self.base / "home"
        self.runtime = self.base / "run"
        self.bus_address = f"unix:path={self.base / 'bus'}"
        self._procs: list[subprocess.Popen[bytes]] = []

    @property
    def env(self) -> dict[str, str]:
        return {"DBUS_SESSION_BUS_ADDRESS": self.bus_address, "HOME": str(self.home),
                "XDG_DATA_HOME": str(self.home / ".local" / "share"),
                "XDG_RUNTIME_DIR": str(self.runtime)}

    def start(self) -> SecretService:
        self.home.mkdir(parents=True, exist_ok=True)
        self.runtime.mkdir(mode=0o700, parents=True, exist_ok=True)
        env = {**os.environ, **self.env}
        self._procs.append(subprocess.Popen(
            ["dbus-daemon", "--session", "--nofork", "--nopidfile",
             f"--address={self.bus_address}"],
            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL))
        self._wait(lambda: (self.base / "bus").exists(), "dbus-daemon did not start")
        keyring = subprocess.Popen(
            ["gnome-keyring-daemon", "--foreground", "--unlock", "--components=secrets"],
            env=env, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        self._procs.append(keyring)
        assert keyring.stdin is not None
        keyring.stdin.write(PASSWORD)
        keyring.stdin.close()
        self._wait(self._answers, "gnome-keyring did not take the Secret Service's name")
        return self

    def _answers(self) -> bool:
        done = subprocess.run(
            ["dbus-send", "--session", "--print-reply", "--dest=org.freedesktop.DBus",
             "/org/freedesktop/DBus", "org.freedesktop.DBus.NameHasOwner",
             "string:org.freedesktop.secrets"],
            env={**os.environ, **self.env}, capture_output=True, text=True, timeout=10,
            check=False)
        return "boolean true" in done.stdout

    def _wait(self, ready: Callable[[], bool], message: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not ready():
            for proc in self._procs:
                assert proc.poll() is None, f"{message} (a daemon exited, status {proc.returncode})"
            assert time.monotonic() < deadline, message
            time.sleep(0.05)

    def secrets(self, service: str) -> dict[str, str]:
        """The secrets stored for `service`, by user name, read over the bus by a child."""
        script = (
            "import json, secretstorage\n"
            "conn = secretstorage.dbus_init()\n"
            "found = {}\n"
            "for item in secretstorage.get_default_collection(conn).search_items("
            f"{{'service': {service!r}}}):\n"
            "    found[item.get_attributes()['username']] = item.get_secret().decode()\n"
            "print(json.dumps(found))\n")
        done = subprocess.run([sys.executable, "-c", script], env={**os.environ, **self.env},
                              capture_output=True, text=True, timeout=30, check=True)
        found: dict[str, str] = json.loads(done.stdout)
        return found

    def stop(self) -> None:
        stop_all(self._procs)

    def __enter__(self) -> SecretService:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        with contextlib.suppress(Exception):
            self.stop()

