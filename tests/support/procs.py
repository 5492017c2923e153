"""Real processes for tests: the license server in a subprocess, on a free port."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import IO

import requests

REPO_ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def stop_all(procs: list[subprocess.Popen[bytes]]) -> None:
    """Terminate `procs`, newest first (kill what does not exit within 5 s), and forget them."""
    for proc in reversed(procs):
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    procs.clear()


def log_tail(path: Path, lines: int = 40) -> str:
    """The last `lines` lines of a log file, or a note that it has none."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:]) or f"(empty log at {path})"


class ServerStartError(RuntimeError):
    """The server process died or did not answer /v1/health in time."""


class ServerProcess:
    """`python -m seatkeeper_server` on 127.0.0.1, with its home, log and admin token in `home`.

    Start it with `start()` or `with ServerProcess(...) as server:`; `stop()`
    sends SIGTERM and kills it if it has not exited within 10 seconds.
    """

    def __init__(
        self,
        db_url: str,
        home: Path,
        signing_key_path: Path,
        *,
        lease_ttl: int = 900,
        heartbeat_interval: int = 300,
        admin_token: str | None = None,
        port: int | None = None,
        extra_args: Sequence[str] = (),
        env: dict[str, str] | None = None,
    ) -> None:
        self.db_url = db_url
        self.home = Path(home)
        self.signing_key_path = Path(signing_key_path)
        self.lease_ttl = lease_ttl
        self.heartbeat_interval = heartbeat_interval
        self.admin_token = admin_token or secrets.token_urlsafe(32)
        self.port = port or free_port()
        self.extra_args = list(extra_args)
        self.extra_env = dict(env or {})
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = self.home / "server.log"
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "seatkeeper_server",
            "--db",
            self.db_url,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--lease-ttl",
            str(self.lease_ttl),
            "--heartbeat-interval",
            str(self.heartbeat_interval),
            "--signing-key",
            str(self.signing_key_path),
            *self.extra_args,
        ]

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def start(self) -> ServerProcess:
        """Start the server and wait until it answers /v1/health with 200."""
        if self._proc is not None:
            raise RuntimeError("server already started")
        self.home.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "SEATKEEPER_HOME": str(self.home),
            "SEATKEEPER_ADMIN_TOKEN": self.admin_token,
            "PYTHONUNBUFFERED": "1",
            **self.extra_env,
        }
        self._log = self.log_path.open("ab")
        self._proc = subprocess.Popen(
            self.command,
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        try:
            self._wait_healthy()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_healthy(self) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + START_TIMEOUT_S
        last_problem = "no answer yet"
        while time.monotonic() < deadline:
            code = self._proc.poll()
            if code is not None:
                raise ServerStartError(
                    f"server exited with status {code} before answering /v1/health; "
                    f"log {self.log_path}:\n{log_tail(self.log_path)}"
                )
            try:
                response = requests.get(f"{self.url}/v1/health", timeout=2)
            except requests.RequestException as exc:
                last_problem = repr(exc)
            else:
                if response.status_code == 200:
                    return
                last_problem = f"HTTP {response.status_code}: {response.text[:200]}"
            time.sleep(0.1)
        raise ServerStartError(
            f"server did not answer /v1/health with 200 within {START_TIMEOUT_S:.0f} s "
            f"({last_problem}); log {self.log_path}:\n{log_tail(self.log_path)}"
        )

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL after 10 s; returns the exit status (None if never started)."""
        proc, self._proc = self._proc, None
        code = None
        if proc is not None:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=STOP_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            code = proc.returncode
        if self._log is not None:
            self._log.close()
            self._log = None
        return code

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
