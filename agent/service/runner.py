"""`seatkeeper run`: the daemon process: instance lock, logs, agent jobs, control socket."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

from agent import __version__
from agent.config import Config
from agent.service import logs
from agent.service.control import ControlServer
from agent.service.daemon import Agent
from agent.service.instance import AlreadyRunning, InstanceLock

log = logging.getLogger("seatkeeper.agent")


class Controls:
    """The control operations, by name, over an Agent (for the socket and the CLI alike)."""

    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        self.ops: dict[str, Callable[..., Any]] = {
            "ping": lambda: "pong",
            "status": lambda: agent.status().to_json(),
            "login": lambda email, password, server_url=None:
                agent.login(email, password, server_url).to_json(),
            "logout": lambda: agent.logout().to_json(),
            "release": lambda: agent.release().to_json(),
            "acquire": lambda license_id=None: agent.acquire(license_id).to_json(),
            "discovery": lambda: agent.continue_in_discovery().to_json(),
            "deliver": lambda: agent.deliver_now().to_json(),
            "devices": agent.devices,
            "deactivate": lambda device_id: agent.deactivate(device_id),
            "remote_deactivation": lambda enabled: agent.set_remote_deactivation(bool(enabled)),
            "account": agent.account,
        }

    def handle(self, op: str, args: dict[str, Any]) -> Any:
        function = self.ops.get(op)
        if function is None:
            raise KeyError(f"unknown control operation {op!r}")
        return function(**args)


def run(config: Config, *, headless: bool) -> int:
    """Run until SIGTERM/SIGINT (or the tray's Quit); exit code 0 on a clean stop."""
    lock = InstanceLock(config.paths.runtime_dir)
    try:
        lock.acquire()
    except AlreadyRunning as exc:
        print(f"seatkeeper: {exc}", file=sys.stderr)
        return 1
    path = logs.setup(config.paths.log_dir, config.log_level, to_stderr=headless)
    log.info("Seatkeeper %s starting (pid %d, data %s, log %s)", __version__, os.getpid(),
             config.paths.data_dir, path)
    for warning in config.warnings:
        log.warning("%s", warning)
    agent = Agent(config)
    controls = Controls(agent)
    server = ControlServer(config.paths.runtime_dir, controls.handle, agent.watch)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    server.start()
    agent.start()
    try:
        print("Seatkeeper is running headless (no tray). Use `seatkeeper status`, "
              "`seatkeeper logout` or `seatkeeper release` from a terminal; Ctrl+C stops it.",
              flush=True)
        while not stop.wait(1.0):
            pass
    finally:
        log.info("stopping")
        server.stop()
        agent.stop()
        lock.release()
    return 0
