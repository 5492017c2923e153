"""`seatkeeper demo`: the embedded license server with its demo account, and an agent of its own.

The demo's agent lives in a throwaway folder (a temporary SEATKEEPER_HOME), never the
user's own: a real login on this computer stays as it was. The folder, the demo server's
database inside it, and the demo's device token in the OS keyring are removed when the
demo stops. It prints the exact command that reaches the demo's agent from another
terminal.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import requests
from seatkeeper import runner
from seatkeeper.config import Config, load_config
from seatkeeper.i18n import _
from seatkeeper.service.credentials import CredentialStore

DEMO_EMAIL = "demo@example.com"
LOG_TAIL_LINES = 15


def _server_home(config: Config) -> Path:
    return config.paths.data_dir / "demo-server"


def _log_tail(path: Path) -> str:
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(lines[-LOG_TAIL_LINES:])


def _start_server(config: Config, port: int) -> tuple[subprocess.Popen[bytes], str]:
    try:
        import seatkeeper_server  # noqa: F401  (present only with the [server] extra)
    except ImportError:
        raise SystemExit("seatkeeper: the demo needs the server: pip install 'seatkeeper[server]'"
                         ) from None
    home = _server_home(config)
    home.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, SEATKEEPER_HOME=str(home))
    env.pop("SEATKEEPER_ADMIN_TOKEN", None)
    log_path = home / "server.log"
    log = open(log_path, "ab")  # noqa: SIM115 (the child keeps it)
    process = subprocess.Popen(
        [sys.executable, "-m", "seatkeeper_server", "--demo", "--migrate", "--host", "127.0.0.1",
         "--port", str(port)],
        env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"seatkeeper: the demo server stopped at once (is port {port} in "
                             f"use? try --port); its log said:\n{_log_tail(log_path)}")
        try:
            if requests.get(url + "/v1/health", timeout=1).ok:
                return process, url
        except requests.RequestException:
            time.sleep(0.2)
    process.terminate()
    raise SystemExit(f"seatkeeper: the demo server did not start; its log said:\n"
                     f"{_log_tail(log_path)}")


def command_to_try(home: Path, *args: str, platform: str = sys.platform) -> str:
    """The command line, as printed, that runs `seatkeeper ARGS` against the demo's agent."""
    program = Path(sys.argv[0])
    if program.stem == "seatkeeper" and program.exists():
        words = [str(program.absolute()), *args]
    else:  # python -m seatkeeper
        words = [sys.executable, "-m", "seatkeeper", *args]
    if platform == "win32":
        return f'set "SEATKEEPER_HOME={home}" && ' + subprocess.list2cmdline(words)
    return f"SEATKEEPER_HOME={shlex.quote(str(home))} {shlex.join(words)}"


class _Demo:
    """The throwaway agent folder and the demo server, cleaned up once."""

    def __init__(self) -> None:
        self.home = Path(tempfile.mkdtemp(prefix="seatkeeper-demo-"))
        self.config = load_config({**os.environ, "SEATKEEPER_HOME": str(self.home)})
        self.server: subprocess.Popen[bytes] | None = None
        self._cleaned = False

    def clean_up(self) -> None:
        if self._cleaned:
            return
        self._cleaned = True
        if self.server is not None:
            self.server.terminate()
            try:
                self.server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.server.kill()
        CredentialStore(self.config.paths.data_dir).clear()
        shutil.rmtree(self.home, ignore_errors=True)


def run(config: Config, *, port: int, headless: bool) -> int:
    """Run the demo until Ctrl+C, Quit or SIGTERM; `config` (the user's) is left alone."""
    demo = _Demo()
    try:
        demo.server, url = _start_server(demo.config, port)
        password = (_server_home(demo.config) / "server" / "demo-password").read_text().strip()
        print(_("Demo license server on {address}: account {email}, password {password}, "
                "license PIX4Dmapper Yearly with 2 seats.").format(
                    address=url, email=DEMO_EMAIL, password=password), flush=True)
        settings = replace(demo.config, server_url=url)
        from seatkeeper.service.daemon import Agent

        agent = Agent(settings)
        agent.login(DEMO_EMAIL, password, url)
        agent.outbox.close()
        print(_("The demo's agent is logged in as {email}. It keeps its files in {folder}, "
                "removed when the demo stops; your own login is not touched.\nTry it from "
                "another terminal (likewise release, logout):\n    {command}").format(
                    email=DEMO_EMAIL, folder=demo.home,
                    command=command_to_try(demo.home, "status")), flush=True)
        return runner.run(settings, headless=headless, before_exit=demo.clean_up)
    finally:
        demo.clean_up()
