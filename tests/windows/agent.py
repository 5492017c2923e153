"""One device's agent on the Windows CPython under Wine: its CLI calls and its headless daemon.

The home is a Linux folder the Windows process sees as `Z:\\…` (SEATKEEPER_HOME), so the
test reads the agent's files directly. Nothing of the Linux agent is used: every command
runs `python.exe -m seatkeeper` under Wine, and the daemon's control channel is its named
pipe. The device token goes to the Windows Credential Manager (keyring's WinVault backend,
Wine's implementation of CredWrite/CredRead), as on a user's Windows PC.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from tests.windows import wine

START_TIMEOUT_S = 60.0
READY_LINE = "Seatkeeper is running headless"


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(str(value))


class WindowsAgent:
    """The agent for `home`, run by the Windows CPython (`python.exe -m seatkeeper …`)."""

    def __init__(self, home: Path, *, server_url: str, device_name: str = "windows-pc",
                 env: dict[str, str] | None = None, seatkeeper_home: bool = True,
                 **config: Any) -> None:
        self.home = home  # SEATKEEPER_HOME; else the folder where config.toml is read
        self.extra_env = dict(env or {})
        self.seatkeeper_home = seatkeeper_home
        home.mkdir(parents=True, exist_ok=True)
        settings = {"server_url": server_url, "device_name": device_name, "seat_retry_s": 1,
                    **config}
        (home / "config.toml").write_text(
            "".join(f"{key} = {_toml(value)}\n" for key, value in sorted(settings.items())),
            encoding="utf-8")
        self.out_path = home / "agent.out"
        self._proc: subprocess.Popen[str] | None = None
        self._pump: threading.Thread | None = None
        self._ready = threading.Event()

    @property
    def env(self) -> dict[str, str]:
        home = {"SEATKEEPER_HOME": wine.windows_path(self.home)} if self.seatkeeper_home else {}
        return {**home, **self.extra_env}

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    def cli(self, *args: str, input: str = "",
            timeout: float = wine.WINE_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
        """`seatkeeper ARGS` on Windows; stdout and stderr together, never raises on failure."""
        try:
            return wine.run_python(["-m", "seatkeeper", *args], env=self.env, input=input,
                                   timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            raise AssertionError(f"`seatkeeper {' '.join(args)}` did not finish within "
                                 f"{timeout:.0f} s:\n{exc.output}") from None

    def status(self) -> dict[str, Any]:
        """`seatkeeper status --json`, parsed (asserts it worked)."""
        done = self.cli("status", "--json")
        assert done.returncode == 0, done.stdout
        status: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        return status

    def login(self, email: str, password: str) -> None:
        """`seatkeeper login --email E --password-stdin` (asserts it worked)."""
        done = self.cli("login", "--email", email, "--password-stdin", input=password + "\n")
        assert done.returncode == 0, done.stdout

    def start(self) -> WindowsAgent:
        """`seatkeeper run --headless`, returned once its control pipe listens."""
        assert self._proc is None or self._proc.poll() is not None, "already running"
        self._ready.clear()
        # Pipes for every stream: Wine's CPython cannot start on a file or /dev/null.
        self._proc = subprocess.Popen(
            wine.wine_command("-m", "seatkeeper", "run", "--headless"), stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, encoding="utf-8",
            errors="replace", env=wine.wine_env(self.env), cwd=wine.REPO_ROOT)
        self._pump = threading.Thread(target=self._copy_output, args=(self._proc,), daemon=True)
        self._pump.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._ready.wait(0.1):
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise AssertionError(f"the Windows agent did not start:\n{self.output()}")
        return self

    def _copy_output(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        with self.out_path.open("a", encoding="utf-8") as out:
            for line in proc.stdout:
                out.write(line)
                out.flush()
                if READY_LINE in line:
                    self._ready.set()

    def output(self) -> str:
        """What the daemon printed (its log lines go to stderr, headless)."""
        return self.out_path.read_text(encoding="utf-8") if self.out_path.exists() else ""

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def close(self) -> None:
        """Teardown: an agent the test started and did not end must still be running (a
        crashed one would otherwise pass for one that the CLI rebuilt from disk); then end it."""
        died = self._proc is not None and self._proc.poll() is not None
        code = self._proc.returncode if self._proc is not None else None
        self.kill()
        assert not died, f"the Windows agent died on its own (exit {code}):\n{self.output()}"

    def kill(self) -> None:
        """SIGKILL the Windows process, as a crash or Task Manager's End task would."""
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.kill()
            self._proc.wait(timeout=30)
            if self._proc.stdin is not None:
                self._proc.stdin.close()
            if self._pump is not None:
                self._pump.join(timeout=10)
            self._proc = None

    def wait_for(self, state: str, timeout: float = 20.0) -> dict[str, Any]:
        """Poll `status --json` until `state`; the last status, or an assertion naming it."""
        deadline = time.monotonic() + timeout
        status = self.status()
        while status["state"] != state and time.monotonic() < deadline:
            time.sleep(0.3)
            status = self.status()
        assert status["state"] == state, f"state {status['state']}, wanted {state}: {status}"
        return status
