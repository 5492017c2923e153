"""A seat request still in flight when its seat is given back: its late answer changes
nothing, so each release and logout reaches the server once.

Found by the crash drill on the merged agent: the restarted daemon's first heartbeat
was on the wire when the person asked it to release (or log out). A heartbeat answered
before the release arrived after it, and the late-seat path queued the lease's release
a second time once the first had left the outbox (two DELETEs on the wire); a heartbeat
answered after a logout's release step made the seat job acquire a new seat, which the
logout then freed too (two `logout` releases in the audit trail). Real server, real
HTTP; the in-flight request is held between its answer and the agent reading it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from seatkeeper.config import load_config
from seatkeeper.core.protocol import LeaseEnvelope
from seatkeeper.core.state import SeatState
from seatkeeper.service.client import Client
from seatkeeper.service.credentials import CredentialStore
from seatkeeper.service.daemon import Agent
from seatkeeper.service.outbox import deliver

from tests.support.api import Api
from tests.support.procs import ServerProcess
from tests.support.proxy import FaultProxy

WAIT_S = 20.0


@pytest.fixture
def proxy(server: ServerProcess) -> Iterator[FaultProxy]:
    with FaultProxy(server.port) as counting:
        yield counting


@pytest.fixture
def agent(server: ServerProcess, proxy: FaultProxy, tmp_path: Path) -> Iterator[Agent]:
    """An agent logged in through the counting proxy, holding a seat."""
    api = Api(server.url, server.admin_token)
    account, _license = api.new_account(seats=2)
    api.close()
    config = load_config(env={"SEATKEEPER_HOME": str(tmp_path)},
                         system_file=tmp_path / "no-system.toml")
    seated = Agent(config, credentials=CredentialStore(config.paths.data_dir,
                                                       use_keyring=False))
    seated.login(account["email"], account["password"], proxy.url)
    seated._seat_job()  # no jobs run: each round is driven by the test, on cue
    assert seated.status().state is SeatState.ACTIVE
    yield seated
    seated.stop()
    seated.outbox.close()


def _hold_heartbeat(agent: Agent, before: Callable[[], object],
                    after: Callable[[], object]) -> None:
    """The seat client's next heartbeat runs `before()`, the request, then `after()`."""
    client = agent._client("seat")
    real = client.heartbeat

    def held(lease_id: str, **kw: Any) -> LeaseEnvelope:
        before()
        try:
            return real(lease_id, **kw)
        finally:
            after()

    client.heartbeat = held  # type: ignore[method-assign]


def _seat_round_in_thread(agent: Agent) -> threading.Thread:
    thread = threading.Thread(target=agent._seat_job, daemon=True)
    thread.start()
    return thread


def test_a_heartbeat_answered_before_a_release_does_not_send_it_again(
        agent: Agent, proxy: FaultProxy) -> None:
    """Released while a heartbeat's answer was on its way: the seat is released once."""
    lease_id = agent.status().lease_id
    answered, go = threading.Event(), threading.Event()

    def hold_answer() -> None:
        answered.set()
        go.wait(WAIT_S)

    _hold_heartbeat(agent, lambda: None, hold_answer)
    thread = _seat_round_in_thread(agent)
    assert answered.wait(WAIT_S)
    assert agent.release().state is SeatState.RELEASED
    agent.deliver_now()  # the release reaches the server while the answer is in flight
    go.set()
    thread.join(WAIT_S)
    agent.deliver_now()
    status = agent.status()
    assert (status.state, status.pending) == (SeatState.RELEASED, ())
    assert proxy.forwarded("DELETE", f"/v1/seats/{lease_id}") == 1


def test_a_heartbeat_refused_after_a_logout_takes_no_new_seat(
        agent: Agent, proxy: FaultProxy) -> None:
    """Logged out while a heartbeat was on its way: no seat is asked for before the
    logout revokes the token, so the logout frees the one seat it queued."""
    acquires = proxy.forwarded("POST", "/v1/seats")
    lease_id = agent.status().lease_id
    sent, go = threading.Event(), threading.Event()

    def hold_request() -> None:
        sent.set()
        go.wait(WAIT_S)

    _hold_heartbeat(agent, hold_request, lambda: None)
    thread = _seat_round_in_thread(agent)
    assert sent.wait(WAIT_S)
    assert agent.logout().state is SeatState.LOGOUT_PENDING
    client = Client(proxy.url)

    class LogoutAfterTheHeartbeat:
        """The logout's release step first; the heartbeat then meets a released lease."""

        def release(self, lease_id: str, **kw: Any) -> None:
            client.release(lease_id, **kw)

        def logout(self, **kw: Any) -> None:
            go.set()
            thread.join(WAIT_S)
            client.logout(**kw)

    try:
        assert deliver(agent.outbox, LogoutAfterTheHeartbeat(), proxy.url) == 1
    finally:
        client.close()
    assert not thread.is_alive()
    assert proxy.forwarded("DELETE", f"/v1/seats/{lease_id}") == 1
    assert proxy.forwarded("POST", "/v1/seats") == acquires, \
        "the seat job asked for a seat after the logout was queued"
