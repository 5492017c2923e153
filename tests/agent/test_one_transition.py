"""Log Out and Release each change the state once: front ends never see a passing state.

Found by the scenario tests' logs: Log Out showed `offline -> signed_out ->
logout_pending`, and Release `active -> acquiring -> released`, each notifying the
tray and `status --watch` of a state the person never chose.
"""

from __future__ import annotations

from pathlib import Path

from seatkeeper.config import load_config
from seatkeeper.core.state import SeatState, Status
from seatkeeper.service import session as saved
from seatkeeper.service.credentials import CredentialStore
from seatkeeper.service.daemon import Agent

from tests.agent.leases import Signer, lease_json

SERVER = "http://127.0.0.1:9"


def _holding_a_seat(tmp_path: Path) -> Agent:
    config = load_config(env={"SEATKEEPER_HOME": str(tmp_path)},
                         system_file=tmp_path / "no-system.toml")
    store = CredentialStore(config.paths.data_dir, use_keyring=False)
    signer = Signer()
    lease = lease_json(expires_at="2099-01-01T00:00:00Z")
    saved.save(config.paths.data_dir, saved.Session(
        server_url=SERVER, account_id="acct-1", email="a@example.test", device_id="dev-1",
        device_name="survey-laptop", public_keys=signer.keys, lease=signer.sign(lease),
        release_token="rt-secret"))
    store.save("skd_token_one")
    return Agent(config, credentials=store)


def _states_seen(agent: Agent) -> list[SeatState]:
    seen: list[SeatState] = []

    def record(status: Status) -> None:
        seen.append(status.state)

    agent.subscribe(record)
    return seen


def test_logout_goes_straight_to_logout_pending(tmp_path: Path) -> None:
    agent = _holding_a_seat(tmp_path)
    assert agent.status().state is SeatState.ACTIVE
    seen = _states_seen(agent)
    assert agent.logout().state is SeatState.LOGOUT_PENDING
    assert seen == [SeatState.LOGOUT_PENDING]
    agent.outbox.close()


def test_release_goes_straight_to_released(tmp_path: Path) -> None:
    agent = _holding_a_seat(tmp_path)
    seen = _states_seen(agent)
    assert agent.release().state is SeatState.RELEASED
    assert seen == [SeatState.RELEASED]
    agent.outbox.close()


def test_a_seat_granted_after_release_goes_back_too(tmp_path: Path) -> None:
    """Released while a seat request was in flight: the seat it brings is queued to go back
    (found under Wine: a logoff during start-up left the server holding the seat)."""
    from types import SimpleNamespace

    from seatkeeper.core.protocol import LeaseEnvelope

    config = load_config(env={"SEATKEEPER_HOME": str(tmp_path)},
                         system_file=tmp_path / "no-system.toml")
    store = CredentialStore(config.paths.data_dir, use_keyring=False)
    signer = Signer()
    saved.save(config.paths.data_dir, saved.Session(
        server_url=SERVER, account_id="acct-1", email="a@example.test", device_id="dev-1",
        device_name="survey-laptop", public_keys=signer.keys))
    store.save("skd_token_one")
    agent = Agent(config, credentials=store)
    assert agent.status().state is SeatState.ACQUIRING
    assert agent.release("shutdown").state is SeatState.RELEASED

    late = LeaseEnvelope.verified(signer.sign(lease_json(lease_id="lease-late")), signer.keys)
    agent._took(late, SimpleNamespace(clock_skew_s=0.0))  # type: ignore[arg-type]
    assert agent.status().state is SeatState.RELEASED
    [item] = agent.outbox.pending()
    assert (item.kind, item.lease_id) == ("release", "lease-late")
    agent.outbox.close()
