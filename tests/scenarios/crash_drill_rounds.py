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
    # Requests sent again because a crash came between sending and recording: per stage.
    retries: collections.Counter[str] = field(default_factory=collections.Counter)
    deliveries: int = 0
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

    def ask_daemon(self, device: DrillDevice, pid: int, op: str, delay: float) -> bool:
        """Ask the daemon for `op`, SIGKILL it `delay` s later; whether it acknowledged."""
        acked = False
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.connect(str(socket_path(device.runtime_dir)))
            start = time.monotonic()
            sock.sendall(json.dumps({"op": op}).encode() + b"\n")
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

    def ask_cli(self, device: DrillDevice, op: str, delay: float) -> None:
        pid = self.fork(device, run_cli(op))
        time.sleep(delay)
        self.kill(pid)

    def stage(self, device: DrillDevice, action: str, lease_id: str) -> str:
        """Where the kill landed, from the outbox and the server (the outbox checked first)."""
        rows = [r for r in outbox_rows(device.outbox) if r[0] == action]
        if action == "release":
            on_server = bool(self.view.lease_events(device.device_id, lease_id, "release"))
        else:
            on_server = self.view.logouts(device.device_id) > 0
        if not rows:
            return "done" if on_server else "before"
        if on_server:
            return "applied_unrecorded"
        if rows[0][1]:
            return "released"
        if action == "release":
            return "queued"
        # Killed between queuing the logout and forgetting the login (token still on disk):
        # the window of the bug this drill found (tests/agent/test_logout_crash.py).
        token_kept = (device.home / "data" / "device-token").exists()
        return "queued_login_kept" if token_kept else "queued"

    def deliveries(self, device: DrillDevice, action: str, lease_id: str) -> dict[str, int]:
        """Each request the queued item needs, and how many of it reached the server."""
        proxy = self.view.proxy
        counted = {"release": proxy.forwarded("DELETE", f"/v1/seats/{lease_id}")}
        if action == "logout":
            counted["logout"] = proxy.forwarded("POST", "/v1/auth/logout", device.token)
        return counted

    def recover_with_daemon(self, device: DrillDevice, action: str, durable: bool,
                            lease_id: str) -> None:
        if action == "logout":
            settled: Callable[[dict[str, Any]], bool] = \
                lambda s: s["state"] == "signed_out" and not s["pending"]  # noqa: E731
        elif durable:
            # The restart delivers the queued release first, then takes a new seat.
            settled = lambda s: (s["state"] == "active" and not s["pending"]  # noqa: E731
                                 and s["lease"]["lease_id"] != lease_id)
        else:
            settled = lambda s: s["state"] == "released" and not s["pending"]  # noqa: E731
        pid = self.fork(device, run_daemon)
        if not durable:
            # The killed process never took the request: the user asks again.
            self.wait_status(device, pid, lambda s: s["state"] in ("active", "acquiring"))
            device.control().call(action)
        self.wait_status(device, pid, settled, SETTLE_TIMEOUT_S)
        self.stop(pid)
        if action == "release":
            # Stopping gives the new seat back for shutdown, through the outbox: let it
            # finish before the outbox is checked.
            self.reap_stopped(block=True)

    def recover_with_cli(self, device: DrillDevice, action: str, lease_id: str) -> None:
        for _attempt in range(3):
            forked = time.monotonic()
            pid = self.fork(device, run_cli(action))
            status = reap(pid, SETTLE_TIMEOUT_S)
            self.live.discard(pid)
            if action == "logout":
                self.tally.cli_runs.append(time.monotonic() - forked)
            assert status is not None, f"`seatkeeper {action}` hung; see {device.home}/drill.log"
            if not outbox_rows(device.outbox) and (action == "logout" or self.view.lease_events(
                    device.device_id, lease_id, "release")):
                return
        raise AssertionError(f"the outbox of {device.home} never emptied")

    # -- a round -----------------------------------------------------------------------

    def round(self, number: int, device: DrillDevice) -> str:
        started = time.monotonic()
        self.reap_stopped()
        action = self.rng.choice(("logout", "release"))
        mode = self.rng.choice(("daemon", "cli"))
        recovery = self.rng.choice(("daemon", "cli"))
        delay = self.delay(mode)
        pid, status = self.start_daemon(device, lambda s: s["state"] == "active")
        mark = self.tally.phase("seat", started)
        assert status["lease"], status
        lease_id: str = status["lease"]["lease_id"]
        assert self.view.holds_seat(device.device_id)
        acked = False
        if mode == "daemon":
            acked = self.ask_daemon(device, pid, action, delay)
        else:
            self.kill(pid)  # no agent runs now; the seat stays held
            self.ask_cli(device, action, delay)
        mark = self.tally.phase(f"{action}+kill", mark)
        time.sleep(0.02)  # let the proxy count what the killed process had sent
        at_kill = self.deliveries(device, action, lease_id)
        stage = self.stage(device, action, lease_id)  # also: the outbox is intact
        durable = stage != "before"
        assert durable or not acked, \
            f"round {number}: the daemon acknowledged the {action} but nothing was kept"
        if recovery == "daemon":
            self.recover_with_daemon(device, action, durable, lease_id)
        else:
            self.recover_with_cli(device, action, lease_id)
        mark = self.tally.phase(f"recover:{recovery}", mark)
        where = f"round {number} ({device.home}, {action} {mode}/{stage})"
        self.check_delivered_once(where, stage, at_kill,
                                  self.deliveries(device, action, lease_id))
        if action == "logout":
            self.check_logged_out(where, device)
        else:
            self.check_released(where, device, lease_id)
        self.tally.phase("check", mark)
        key = f"{action}:{mode}/{stage}"
        self.tally.stages[key] += 1
        self.tally.modes[f"{mode}->{recovery}"] += 1
        if stage != "before":
            # Learn where the work ends: aim the next kills at and before it.
            if stage == "done":
                self.window[mode] = max(0.010, min(self.window[mode], delay) * 1.2)
            else:
                self.window[mode] = min(MAX_KILL_DELAY_S, max(self.window[mode], delay * 1.5))
        self.tally.round_s.append(time.monotonic() - started)
        return (f"{action:<7} {mode:<6} kill at {delay * 1000:5.1f} ms -> {stage:<18} "
                f"recovered by {recovery}")

    def check_delivered_once(self, where: str, stage: str, at_kill: dict[str, int],
                             total: dict[str, int]) -> None:
        """Each request of the queued item reached the server: at most once before the crash
        (the server answers at once, so nothing needed a retry), and at most once more after
        it (none more once the outbox had recorded it done)."""
        for step, count in total.items():
            assert count >= 1, f"{where}: the {step} request never reached the server"
            assert at_kill[step] <= 1, f"{where}: the {step} request was sent " \
                f"{at_kill[step]} times before the crash (want at most 1)"
            again = count - at_kill[step]
            assert again <= 1, f"{where}: the {step} request was sent {again} times after " \
                f"the crash (want at most 1)"
            if stage == "done" or (stage == "released" and step == "release"):
                assert again == 0, f"{where}: a {step} already confirmed was sent again"
            self.tally.deliveries += count
            self.tally.retries[stage] += count - 1

    def check_logged_out(self, where: str, device: DrillDevice) -> None:
        assert outbox_rows(device.outbox) == [], f"{where}: the outbox is not empty"
        assert self.view.token_status(device.token) == 401, \
            f"{where}: the device token still works: the logout was lost"
        assert not self.view.holds_seat(device.device_id), f"{where}: the seat is still held"
        logouts = self.view.logouts(device.device_id)
        assert logouts == 1, f"{where}: {logouts} logout events on the server (want 1)"
        releases = self.view.events(device.device_id, "release")
        assert releases == ["logout"], f"{where}: the seat's releases were {releases}"
        status = self.local_status(device)
        assert (status["state"], status["pending"]) == ("signed_out", []), \
            f"{where}: the agent says {status['state']} with {status['pending']}"

    def check_released(self, where: str, device: DrillDevice, lease_id: str) -> None:
        assert outbox_rows(device.outbox) == [], f"{where}: the outbox is not empty"
        assert not self.view.lease_live(lease_id), f"{where}: the lease is still live"
        releases = self.view.lease_events(device.device_id, lease_id, "release")
        assert releases == ["user"], f"{where}: the lease's releases were {releases}"
        assert self.view.token_status(device.token) == 200, \
            f"{where}: a release signed the device out"
        status = self.local_status(device)
        assert status["account"] is not None and status["pending"] == [], \
            f"{where}: the agent says {status['state']} with {status['pending']}"

    def local_status(self, device: DrillDevice) -> dict[str, Any]:
        """What the agent itself says, read from its files."""
        config = load_config(env={"SEATKEEPER_HOME": str(device.home)}, system_file=NOWHERE)
        agent = Agent(config, credentials=CredentialStore(config.paths.data_dir,
                                                          use_keyring=False))
        try:
            return agent.status().to_json()
        finally:
            agent.outbox.close()
