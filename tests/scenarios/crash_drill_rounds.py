"""Crash drill rounds: the Drill that forks, kills and recovers a device, and its Tally."""

from __future__ import annotations

import collections
import contextlib
import json
import os
import random
import select
import signal
import socket
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from seatkeeper.config import load_config
from seatkeeper.service.control import AgentNotRunning, socket_path
from seatkeeper.service.credentials import CredentialStore
from seatkeeper.service.daemon import Agent

from tests.scenarios.crash_drill_support import (
    NOWHERE,
    DrillDevice,
    ServerView,
    fork_child,
    kill,
    outbox_rows,
    reap,
    run_cli,
    run_daemon,
)

MAX_KILL_DELAY_S = 0.300
READY_TIMEOUT_S = 20.0
SETTLE_TIMEOUT_S = 30.0


# -- the drill ---------------------------------------------------------------------------


@dataclass
class Tally:
    stages: collections.Counter[str] = field(default_factory=collections.Counter)
    modes: collections.Counter[str] = field(default_factory=collections.Counter)
    acks: list[float] = field(default_factory=list)
    cli_runs: list[float] = field(default_factory=list)  # `seatkeeper logout`, fork to exit
    round_s: list[float] = field(default_factory=list)
    phases: dict[str, list[float]] = field(default_factory=lambda: collections.defaultdict(list))

    def phase(self, name: str, since: float) -> float:
        now = time.monotonic()
        self.phases[name].append(now - since)
        return now


class Drill:
    def __init__(self, view: ServerView, rng: random.Random) -> None:
        self.view, self.rng = view, rng
        self.live: set[int] = set()
        self.stopping: set[int] = set()
        self.tally = Tally()
        # Where the work happens, per mode (updated from observation): kill delays are
        # drawn mostly inside it, so most kills land before or during delivery.
        self.window = {"daemon": 0.060, "cli": 0.120}

    def fork(self, device: DrillDevice, body: Callable[[], int]) -> int:
        pid = fork_child(device.home, body)
        self.live.add(pid)
        return pid

    def kill(self, pid: int) -> None:
        kill(pid)
        self.live.discard(pid)

    def stop(self, pid: int) -> None:
        """SIGTERM a daemon; it is reaped later (its control socket takes up to 0.5 s)."""
        os.kill(pid, signal.SIGTERM)
        self.stopping.add(pid)

    def reap_stopped(self, *, block: bool = False) -> None:
        """Collect daemons that were asked to stop; each must have exited with status 0."""
        for pid in list(self.stopping):
            if block:
                status = reap(pid)
            else:
                done, status = os.waitpid(pid, os.WNOHANG)
                if not done:
                    continue
            self.stopping.discard(pid)
            self.live.discard(pid)
            assert status is not None and os.waitstatus_to_exitcode(status) == 0, \
                f"daemon {pid} did not stop cleanly (wait status {status})"

    def cleanup(self) -> None:
        for pid in list(self.live):
            self.kill(pid)

    def delay(self, mode: str) -> float:
        """0-300 ms; mostly within the time the work takes, so kills land before and in it."""
        if self.rng.random() < 0.2:
            return self.rng.uniform(0.0, MAX_KILL_DELAY_S)
        window = self.window[mode]
        if mode == "cli" and self.tally.cli_runs:
            window = 1.2 * statistics.median(self.tally.cli_runs[-15:])
        return self.rng.uniform(0.0, min(MAX_KILL_DELAY_S, window))

    # -- steps -------------------------------------------------------------------------

    def start_daemon(self, device: DrillDevice, until: Callable[[dict[str, Any]], bool]
                     ) -> tuple[int, dict[str, Any]]:
        pid = self.fork(device, run_daemon)
        status = self.wait_status(device, pid, until)
        return pid, status

    def wait_status(self, device: DrillDevice, pid: int,
                    until: Callable[[dict[str, Any]], bool],
                    timeout: float = READY_TIMEOUT_S) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        status: dict[str, Any] = {}
        while time.monotonic() < deadline:
            done, _ = os.waitpid(pid, os.WNOHANG)
            assert not done, f"daemon {pid} died; see {device.home / 'drill.log'}"
            with contextlib.suppress(AgentNotRunning, OSError):
                status = device.control().call("status")
                if until(status):
                    return status
            time.sleep(0.01)
        raise AssertionError(f"daemon {pid} never reached the wanted state; last status "
                             f"{json.dumps(status)[:800]}; see {device.home / 'drill.log'}")

    def logout_via_daemon(self, device: DrillDevice, pid: int, delay: float) -> bool:
        """Ask the daemon to log out, SIGKILL it `delay` s later; whether it acknowledged."""
        acked = False
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.connect(str(socket_path(device.runtime_dir)))
            start = time.monotonic()
            sock.sendall(b'{"op": "logout"}\n')
            deadline = start + delay
            buffer = b""
            while (left := deadline - time.monotonic()) > 0 and not acked:
                readable, _, _ = select.select([sock], [], [], left)
                if not readable:
                    break
                chunk = sock.recv(65536)
                if not chunk:
                    break
                buffer += chunk
                if buffer.endswith(b"\n"):
                    acked = bool(json.loads(buffer).get("ok"))
                    self.tally.acks.append(time.monotonic() - start)
            time.sleep(max(0.0, deadline - time.monotonic()))
            self.kill(pid)
        return acked

    def logout_via_cli(self, device: DrillDevice, delay: float) -> None:
        pid = self.fork(device, run_cli("logout"))
        time.sleep(delay)
        self.kill(pid)

    def stage(self, device: DrillDevice) -> str:
        """Where the kill landed, from the outbox and the server (the outbox checked first)."""
        rows = [r for r in outbox_rows(device.outbox) if r[0] == "logout"]
        on_server = self.view.logouts(device.device_id) > 0
        if not rows:
            return "done" if on_server else "before"
        if on_server:
            return "applied_unrecorded"
        if rows[0][1]:
            return "released"
        # Killed between queuing the logout and forgetting the login (token still on disk):
        # the window of the bug this drill found (tests/agent/test_logout_crash.py).
        token_kept = (device.home / "data" / "device-token").exists()
        return "queued_login_kept" if token_kept else "queued"

    def recover_with_daemon(self, device: DrillDevice, durable: bool) -> None:
        settled: Callable[[dict[str, Any]], bool] = \
            lambda s: s["state"] == "signed_out" and not s["pending"]  # noqa: E731
        pid = self.fork(device, run_daemon)
        if not durable:
            # The killed process never took the request: the user asks again.
            self.wait_status(device, pid, lambda s: s["state"] in ("active", "acquiring"))
            device.control().call("logout")
        self.wait_status(device, pid, settled, SETTLE_TIMEOUT_S)
        self.stop(pid)

    def recover_with_cli(self, device: DrillDevice) -> None:
        for _attempt in range(3):
            forked = time.monotonic()
            pid = self.fork(device, run_cli("logout"))
            status = reap(pid, SETTLE_TIMEOUT_S)
            self.live.discard(pid)
            self.tally.cli_runs.append(time.monotonic() - forked)
            assert status is not None, f"`seatkeeper logout` hung; see {device.home}/drill.log"
            if not outbox_rows(device.outbox):
                return
        raise AssertionError(f"the outbox of {device.home} never emptied")

    # -- a round -----------------------------------------------------------------------

    def round(self, number: int, device: DrillDevice) -> str:
        started = time.monotonic()
        self.reap_stopped()
        mode = self.rng.choice(("daemon", "cli"))
        recovery = self.rng.choice(("daemon", "cli"))
        delay = self.delay(mode)
        pid, status = self.start_daemon(device, lambda s: s["state"] == "active")
        mark = self.tally.phase("seat", started)
        assert status["lease"], status
        assert self.view.holds_seat(device.device_id)
        acked = False
        if mode == "daemon":
            acked = self.logout_via_daemon(device, pid, delay)
        else:
            self.kill(pid)  # no agent runs now; the seat stays held
            self.logout_via_cli(device, delay)
        mark = self.tally.phase("logout+kill", mark)
        stage = self.stage(device)  # also: the outbox is intact right after the kill
        durable = stage != "before"
        assert durable or not acked, \
            f"round {number}: the daemon acknowledged the logout but nothing was kept"
        if recovery == "daemon":
            self.recover_with_daemon(device, durable)
        else:
            self.recover_with_cli(device)
        mark = self.tally.phase(f"recover:{recovery}", mark)
        self.check_after(number, device)
        self.tally.phase("check", mark)
        key = f"{mode}/{stage}"
        self.tally.stages[key] += 1
        self.tally.modes[f"{mode}->{recovery}"] += 1
        if stage != "before":
            # Learn where the work ends: aim the next kills at and before it.
            if stage == "done":
                self.window[mode] = max(0.010, min(self.window[mode], delay) * 1.2)
            else:
                self.window[mode] = min(MAX_KILL_DELAY_S, max(self.window[mode], delay * 1.5))
        self.tally.round_s.append(time.monotonic() - started)
        return f"{mode} kill at {delay * 1000:5.1f} ms -> {stage:<18} recovered by {recovery}"

    def check_after(self, number: int, device: DrillDevice) -> None:
        where = f"round {number} ({device.home})"
        assert outbox_rows(device.outbox) == [], f"{where}: the outbox is not empty"
        assert self.view.token_status(device.token) == 401, \
            f"{where}: the device token still works: the logout was lost"
        assert not self.view.holds_seat(device.device_id), f"{where}: the seat is still held"
        logouts = self.view.logouts(device.device_id)
        assert logouts == 1, f"{where}: {logouts} logout events on the server (want 1)"
        releases = self.view.events(device.device_id, "release")
        assert releases == ["logout"], f"{where}: the seat's releases were {releases}"
        config = load_config(env={"SEATKEEPER_HOME": str(device.home)}, system_file=NOWHERE)
        agent = Agent(config, credentials=CredentialStore(config.paths.data_dir,
                                                          use_keyring=False))
        try:
            status = agent.status().to_json()
        finally:
            agent.outbox.close()
        assert (status["state"], status["pending"]) == ("signed_out", []), \
            f"{where}: the agent says {status['state']} with {status['pending']}"
