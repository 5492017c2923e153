"""The real agent on the Windows CPython under Wine: one `SEATKEEPER_HOME`, its CLI and daemon.

    agent = DesktopAgent(tmp_path / "pc", desktop.env, server_url=server.url)
    agent.login(email, password)          # `seatkeeper login --password-stdin`, on Windows
    agent.start()                         # `seatkeeper run` (tray), or start(headless=True)
    agent.wait_for_log("tray icon shown") # the agent's own log, read from Linux
    agent.cli("status", "--json")         # any command, as a CompletedProcess

Wine's CPython needs pipes for its standard streams: the daemon's output is drained
from a pipe into `agent.out`. The home lives on Linux and is handed over as the Z:
path Windows sees. `pid` is the Windows process id (what EnumWindows reports),
`proc` the Unix process (it ends when the Windows process does).
"""

from __future__ import annotations

import re
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from tests.support.agent import AgentProcess
from tests.windows import wine

START_TIMEOUT_S = 60.0
CLI_TIMEOUT_S = 90.0


class DesktopAgent(AgentProcess):
    """One device's agent under Wine: config file, Windows CLI calls and the daemon."""

    def __init__(self, home: Path, desktop_env: dict[str, str], **kw: Any) -> None:
        super().__init__(home, **kw)
        self.desktop_env = desktop_env
        self.proc: subprocess.Popen[bytes] | None = None
        self._drain: threading.Thread | None = None

    @property
    def env(self) -> dict[str, str]:
        merged: dict[str, str | None] = {
            **self.desktop_env, "SEATKEEPER_HOME": wine.windows_path(self.home),
            "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
            "PYTHONUNBUFFERED": "1", **self.extra_env}
        return {key: value for key, value in merged.items() if value is not None}

    def cli(self, *args: str, input: str | None = None,
            timeout: float = CLI_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
        """`python -m seatkeeper ARGS` on the Windows CPython (output and errors together)."""
        return wine.run_python(["-m", "seatkeeper", *args], env=self.env, input=input or "",
                               timeout=timeout)

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int | None:
        """The Windows process id of the running daemon, from its log's first line."""
        found = re.findall(r"starting \(pid (\d+),", self.logs_text())
        return int(found[-1]) if found else None

    def start(self, headless: bool = False) -> DesktopAgent:
        """`seatkeeper run` (with its tray unless headless), once its log says it runs."""
        if self.alive:
            raise RuntimeError("agent already running")
        ready = "running headless" if headless else "tray icon shown"
        seen = self.logs_text().count(ready)
        command = ["-m", "seatkeeper", "run", *(["--headless"] if headless else [])]
        self.proc = subprocess.Popen(wine.wine_command(*command), stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     env=wine.wine_env(self.env), cwd=wine.REPO_ROOT)
        self._drain = threading.Thread(target=self._copy_out, args=(self.proc,), daemon=True)
        self._drain.start()
        self.wait_for_log(ready, timeout=START_TIMEOUT_S, seen=seen)
        return self

    def _copy_out(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        with self.out_path.open("ab") as out:
            for line in proc.stdout:
                out.write(line)
                out.flush()

    def wait_for_log(self, text: str, timeout: float = 20.0, seen: int = 0) -> str:
        """Wait until the agent's output and log show `text` more than `seen` times."""
        deadline = time.monotonic() + timeout
        while True:
            logs = self.logs_text()
            if logs.count(text) > seen:
                return logs
            if self.proc is not None and self.proc.poll() is not None and \
                    self.logs_text().count(text) <= seen:
                raise AssertionError(f"the agent exited ({self.proc.returncode}) before "
                                     f"its log said {text!r}:\n{self.logs_tail()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"the agent's log did not say {text!r} within "
                                     f"{timeout:g} s:\n{self.logs_tail()}")
            time.sleep(0.1)

    def status(self) -> dict[str, Any]:
        """`seatkeeper status --json`, from the Windows CLI."""
        import json

        done = self.cli("status", "--json")
        assert done.returncode == 0, f"status failed ({done.returncode}):\n{done.stdout}"
        parsed: dict[str, Any] = json.loads(done.stdout[done.stdout.index("{"):])
        return parsed

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)
        if self._drain is not None:
            self._drain.join(timeout=5)

    def stop(self, timeout: float = 10.0) -> int | None:
        """End the daemon (Wine ends a Windows process on SIGTERM); its exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
        if self._drain is not None:
            self._drain.join(timeout=5)
        return self.proc.returncode
