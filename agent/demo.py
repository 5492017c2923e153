"""`seatkeeper demo`: the embedded license server with its demo account, and this agent."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import requests
from seatkeeper import runner
from seatkeeper.config import Config
from seatkeeper.service import session as saved

DEMO_EMAIL = "demo@example.com"


def _server_home(config: Config) -> Path:
    return config.paths.data_dir / "demo-server"


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
    log = open(home / "server.log", "ab")  # noqa: SIM115 (the child keeps it)
    process = subprocess.Popen(
        [sys.executable, "-m", "seatkeeper_server", "--demo", "--migrate", "--host", "127.0.0.1",
         "--port", str(port)],
        env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"seatkeeper: the demo server stopped at once; see "
                             f"{home / 'server.log'} (is port {port} in use? try --port)")
        try:
            if requests.get(url + "/v1/health", timeout=1).ok:
                return process, url
        except requests.RequestException:
            time.sleep(0.2)
    process.terminate()
    raise SystemExit(f"seatkeeper: the demo server did not start; see {home / 'server.log'}")


def run(config: Config, *, port: int, headless: bool) -> int:
    process, url = _start_server(config, port)
    try:
        password = (_server_home(config) / "server" / "demo-password").read_text().strip()
        print(f"Demo license server on {url}: account {DEMO_EMAIL}, password {password}, "
              "license PIX4Dmapper Yearly with 2 seats.", flush=True)
        current = saved.load(config.paths.data_dir)
        if current is None or current.server_url != url or current.email != DEMO_EMAIL:
            from seatkeeper.service.daemon import Agent

            agent = Agent(replace(config, server_url=url))
            agent.login(DEMO_EMAIL, password, url)
            agent.outbox.close()
            print(f"This agent is logged in as {DEMO_EMAIL}.", flush=True)
        print("Try `seatkeeper status`, `seatkeeper release`, `seatkeeper logout` in another "
              "terminal (with the same SEATKEEPER_HOME, if you set one).", flush=True)
        return runner.run(replace(config, server_url=url), headless=headless)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
