"""At start the seat is asked for first: the request goes out before the scheduler is up.

The tray's icon comes before the agent is built, so the held seat's confirmation must not
also wait for APScheduler's import (docs/benchmarks.md, issue 14). Real server, real HTTP;
the scheduler's start is held back until the seat is held, which only the first round,
run outside the scheduler, can bring.
"""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path

import pytest
from seatkeeper.config import load_config
from seatkeeper.core.state import SeatState, Status
from seatkeeper.service.credentials import CredentialStore
from seatkeeper.service.daemon import Agent
from seatkeeper.service.jobs import Jobs

from tests.support.api import Api
from tests.support.procs import ServerProcess

WAIT_S = 20.0


def _agent(tmp_path: Path) -> Agent:
    config = load_config(env={"SEATKEEPER_HOME": str(tmp_path)},
                         system_file=tmp_path / "no-system.toml")
    return Agent(config, credentials=CredentialStore(config.paths.data_dir, use_keyring=False))


def test_the_seat_is_held_before_the_scheduler_starts_and_its_heartbeat_then_scheduled(
        server: ServerProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A restarted agent holds its seat while the scheduler's start is still held back;
    the next heartbeat that first round asked for meanwhile is scheduled once the jobs run."""
    api = Api(server.url, server.admin_token)
    account, _license = api.new_account(seats=1)
    api.close()
    first = _agent(tmp_path)
    first.login(account["email"], account["password"], server.url)  # not started: no seat
    first.outbox.close()

    agent = _agent(tmp_path)  # the next start
    held = threading.Event()
    agent.subscribe(lambda status: held.set() if status.state is SeatState.ACTIVE else None)
    real_start = Jobs.start

    def held_back(jobs: Jobs) -> None:
        if held.wait(WAIT_S):
            with agent._seat_lock:  # the first round is over: what it scheduled waits
                pass
        real_start(jobs)

    monkeypatch.setattr(Jobs, "start", held_back)
    starting = threading.Thread(target=agent.start)
    starting.start()
    try:
        assert held.wait(WAIT_S), "the seat waited for the scheduler"
        starting.join(WAIT_S)
        status: Status = agent.status()
        assert status.state is SeatState.ACTIVE
        jobs = agent.jobs
        assert jobs is not None
        due = jobs.pending("seat")
        assert due is not None and due > dt.datetime.now(dt.UTC) + dt.timedelta(seconds=60)
    finally:
        starting.join(WAIT_S)
        agent.stop()
        agent.outbox.close()
