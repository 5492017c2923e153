"""The administrator's shutdown setting: release on shutdown is on by default, and lockable off."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any

import pytest
from seatkeeper.config import load_config
from seatkeeper.core.wire import format_time
from seatkeeper.service import session as saved
from seatkeeper.service.credentials import CredentialStore
from seatkeeper.service.daemon import Agent
from seatkeeper.service.hooks import AgentEvents

from tests.agent.faultserver import FaultServer, hang, reply
from tests.agent.leases import Signer, lease_json

# Scheduling on a busy test machine; the budget itself is the agent's 2 s.
SLACK_S = 0.3


class FakeAgent:
    def __init__(self, borrowed_until: dt.datetime | None = None) -> None:
        self.calls: list[tuple[str, Any]] = []
        self._borrowed_until = borrowed_until

    def release_now(self, reason: str, budget_s: float) -> bool:
        self.calls.append(("release_now", (reason, budget_s)))
        return True

    def acquire(self) -> None:
        self.calls.append(("acquire", ()))

    def borrowed_until(self) -> dt.datetime | None:
        return self._borrowed_until


def config_with(tmp_path: Path, system: str, user: str) -> Any:
    etc = tmp_path / "etc" / "config.toml"
    etc.parent.mkdir(parents=True)
    etc.write_text(system)
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text(user)
    return load_config({"SEATKEEPER_HOME": str(home)}, system_file=etc)


def holding_agent(tmp_path: Path, server: FaultServer) -> Agent:
    """A real Agent, default configuration, logged in to `server` and holding lease-1."""
    config = config_with(tmp_path, "", f'server_url = "{server.url}"\n')
    signer = Signer("k1")
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    lease = lease_json(account_id="acct-1", device={"id": "dev-1", "name": "desk"},
                       issued_at=format_time(now), server_time=format_time(now),
                       expires_at=format_time(now + dt.timedelta(minutes=15)))
    credentials = CredentialStore(config.paths.data_dir, use_keyring=False)
    credentials.save("skd_" + "a" * 40)
    saved.save(config.paths.data_dir, saved.Session(
        server_url=server.url, account_id="acct-1", email="a@example.test",
        device_id="dev-1", device_name="desk", public_keys=signer.keys,
        lease=signer.sign(lease), release_token="skr_" + "b" * 40))
    return Agent(config, credentials=credentials)


@pytest.mark.parametrize("answers", [True, False], ids=["server answers", "server stalls"])
def test_release_on_shutdown_is_on_by_default(tmp_path: Path, answers: bool) -> None:
    """No setting anywhere: shutdown sends the seat's release, reason `shutdown`, and returns
    within 2 s, confirmed, or (the server stalling) with the release kept in the outbox."""
    with FaultServer() as server:
        server.routes["/v1/seats/lease-1"] = reply(204) if answers else hang
        agent = holding_agent(tmp_path, server)
        assert agent.status().lease_id == "lease-1"
        started = time.monotonic()
        AgentEvents(agent, agent.config).shutting_down()
        took = time.monotonic() - started
        assert took < 2.0 + SLACK_S, f"shutdown took {took:.2f} s"
        assert [(seen.method, seen.path) for seen in server.seen] == [
            ("DELETE", "/v1/seats/lease-1?reason=shutdown")]
        pending = [(item.kind, item.lease_id, item.reason) for item in agent.outbox.pending()]
        assert pending == ([] if answers else [("release", "lease-1", "shutdown")])
        assert agent.status().lease_id is None and agent.status().account == "a@example.test"
        agent.outbox.close()


def test_locked_off_by_the_administrator_keeps_the_seat(tmp_path: Path) -> None:
    """The system file turns it off and locks it; the user's `true` does not win."""
    config = config_with(tmp_path, 'release_on_shutdown = false\n[policy]\n'
                         'locked = ["release_on_shutdown"]\n', "release_on_shutdown = true\n")
    assert config.release_on_shutdown is False
    agent: Any = FakeAgent()
    events = AgentEvents(agent, config)
    events.shutting_down()
    events.shutdown_cancelled()
    assert agent.calls == []


def test_cancelled_shutdown_asks_for_the_seat_again(tmp_path: Path) -> None:
    """After a release for a shutdown that did not happen, a seat is asked for again, once."""
    agent: Any = FakeAgent()
    events = AgentEvents(agent, config_with(tmp_path, "", ""))
    events.shutting_down()
    events.shutdown_cancelled()
    events.shutdown_cancelled()
    assert [name for name, _ in agent.calls] == ["release_now", "acquire"]


def test_a_borrowed_seat_is_kept_at_shutdown(tmp_path: Path) -> None:
    """A seat borrowed for offline work is not given back when the computer shuts down (the
    whole run, SIGTERM and restart offline: tests/scenarios/test_borrow.py)."""
    agent: Any = FakeAgent(borrowed_until=dt.datetime.now(dt.UTC) + dt.timedelta(days=3))
    events = AgentEvents(agent, config_with(tmp_path, "", ""))
    events.shutting_down()
    events.shutdown_cancelled()
    assert agent.calls == []


def test_sigterm_after_prepare_for_shutdown_does_not_release_twice(tmp_path: Path) -> None:
    """logind's announcement released the seat; the SIGTERM that follows adds no second wait."""
    agent: Any = FakeAgent()
    events = AgentEvents(agent, config_with(tmp_path, "", ""))
    events.shutting_down()
    events.shutting_down()
    assert [name for name, _ in agent.calls] == ["release_now"]
