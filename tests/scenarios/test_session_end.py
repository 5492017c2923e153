"""SIGTERM and SIGHUP (shutdown without logind, launchd, the session ending) give the seat back."""

from __future__ import annotations

import signal
import sqlite3
import time
from pathlib import Path
from typing import Any

from tests.scenarios.common import ScenarioServer
from tests.scenarios.conftest import AgentFactory
from tests.support.agent import AgentProcess
from tests.support.api import Api
from tests.support.proxy import FaultProxy

EXIT_WITHIN_S = 3.0


def release_reason(db_path: Path, lease_id: str) -> str | None:
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as db:
        row = db.execute("SELECT release_reason FROM leases WHERE id = ?", (lease_id,)).fetchone()
    return None if row is None else row[0]


def holding(agent: AgentProcess, account: dict[str, Any]) -> str:
    agent.login(account["email"], account["password"])
    agent.start()
    lease_id: str = agent.wait_for("active")["lease"]["lease_id"]
    return lease_id


def end(agent: AgentProcess, signum: int) -> tuple[int | None, float]:
    """Send `signum`; the exit status and how long the process took to go."""
    proc = agent._proc
    assert proc is not None
    started = time.monotonic()
    proc.send_signal(signum)
    code = proc.wait(timeout=10)
    took = time.monotonic() - started
    agent.stop()  # closes its output file
    return code, took


def test_sigterm_releases_the_active_seat_and_keeps_the_login(
        scenario_server: ScenarioServer, scenario_api: Api, make_agent: AgentFactory) -> None:
    """SIGTERM: the seat is released (reason shutdown), the login kept, the exit clean."""
    account, _ = scenario_api.new_account(seats=1)
    agent = make_agent("office-pc", server_url=scenario_server.url)
    lease_id = holding(agent, account)

    code, took = end(agent, signal.SIGTERM)
    assert code == 0 and took < EXIT_WITHIN_S, (code, took)
    assert release_reason(scenario_server.db_path, lease_id) == "shutdown"
    status = agent.status()
    assert status["account"] == account["email"] and status["pending"] == []

    agent.start()  # the next start takes a seat again by itself
    assert agent.wait_for("active")["lease"]["lease_id"] != lease_id


def test_sighup_ends_the_session_like_sigterm(
        scenario_server: ScenarioServer, scenario_api: Api, make_agent: AgentFactory) -> None:
    """SIGHUP (the session ends): the seat is released as for a shutdown."""
    account, _ = scenario_api.new_account(seats=1)
    agent = make_agent("shared-pc", server_url=scenario_server.url)
    lease_id = holding(agent, account)

    code, took = end(agent, signal.SIGHUP)
    assert code == 0 and took < EXIT_WITHIN_S, (code, took)
    assert release_reason(scenario_server.db_path, lease_id) == "shutdown"


def test_sigterm_during_an_outage_queues_the_release_and_exits_within_3_s(
        scenario_server: ScenarioServer, scenario_api: Api, make_agent: AgentFactory,
        proxy: FaultProxy) -> None:
    """Server stalled: out within 3 s, the release in the outbox; the next start sends it."""
    account, _ = scenario_api.new_account(seats=1)
    agent = make_agent("site-pc", server_url=proxy.url)
    lease_id = holding(agent, account)

    proxy.stall()
    code, took = end(agent, signal.SIGTERM)
    assert code == 0 and took < EXIT_WITHIN_S, (code, took)
    assert release_reason(scenario_server.db_path, lease_id) is None
    pending = agent.status()["pending"]
    assert [item["kind"] for item in pending] == ["release"], pending

    proxy.cut()
    proxy.restore()
    agent.start()
    active = agent.wait_for("active", until=lambda s: not s["pending"])
    # Sent first, or the server handed the same lease back and the release was cancelled.
    assert (release_reason(scenario_server.db_path, lease_id) == "shutdown"
            or active["lease"]["lease_id"] == lease_id)


def _send_to_thread(pid: int, tid: int, signum: int) -> None:
    """tgkill(2): a signal for one thread of `pid`, as the kernel may pick any thread for a
    process-wide one."""
    import ctypes
    import os

    libc = ctypes.CDLL(None, use_errno=True)
    sys_tgkill = 234  # x86_64
    if libc.syscall(sys_tgkill, pid, tid, signum) != 0:
        raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))


def test_sigterm_taken_by_a_worker_thread_still_stops_the_agent(
        scenario_server: ScenarioServer, scenario_api: Api, make_agent: AgentFactory) -> None:
    """A SIGTERM that lands on one of the agent's worker threads (not the main one) still
    releases the seat and ends the process: it once left the headless agent running."""
    import os
    import platform

    if platform.machine() != "x86_64":
        raise AssertionError("this test calls tgkill by its x86_64 number")
    account, _ = scenario_api.new_account(seats=1)
    agent = make_agent("office-pc", server_url=scenario_server.url)
    lease_id = holding(agent, account)
    assert agent.pid is not None
    workers = sorted(int(tid) for tid in os.listdir(f"/proc/{agent.pid}/task")
                     if int(tid) != agent.pid)
    assert workers, "the agent runs worker threads (scheduler, control socket)"
    started = time.monotonic()
    for tid in workers:  # a short-lived worker may be gone already: the next one then
        try:
            _send_to_thread(agent.pid, tid, signal.SIGTERM)
            break
        except ProcessLookupError:
            continue
    else:
        raise AssertionError(f"no worker thread of {agent.pid} took the signal")
    proc = agent._proc
    assert proc is not None
    code = proc.wait(timeout=10)
    took = time.monotonic() - started
    agent.stop()
    assert code == 0 and took < EXIT_WITHIN_S, (code, took)
    assert release_reason(scenario_server.db_path, lease_id) == "shutdown"
