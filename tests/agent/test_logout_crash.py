"""A crash between queuing a logout (or a release) and forgetting the login (or the lease).

`Agent.logout` queues the logout durably first, then clears the device token and
the saved lease. A SIGKILL between the two leaves the token and the lease on disk
with the logout queued for that very token. The next start must finish the local
half of the logout; otherwise, once the outbox delivered the logout, the agent
showed `active` again with a revoked token and a released lease.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from seatkeeper.config import load_config
from seatkeeper.core.state import SeatState
from seatkeeper.core.wire import format_time
from seatkeeper.service import session as saved
from seatkeeper.service.credentials import CredentialStore
from seatkeeper.service.daemon import Agent
from seatkeeper.service.outbox import Outbox

from tests.agent.leases import Signer, lease_json

SERVER = "http://127.0.0.1:9"


def _logged_in(tmp_path: Path, token: str) -> tuple[Agent, CredentialStore]:
    config = load_config(env={"SEATKEEPER_HOME": str(tmp_path)},
                         system_file=tmp_path / "no-system.toml")
    store = CredentialStore(config.paths.data_dir, use_keyring=False)
    saved.save(config.paths.data_dir, saved.Session(
        server_url=SERVER, account_id="acc_1", email="a@example.test", device_id="dev_1",
        device_name="survey-laptop", release_token="rt_1"))
    store.save(token)
    return Agent(config, credentials=store), store


def test_restart_finishes_a_logout_cut_short_after_queuing(tmp_path: Path) -> None:
    agent, store = _logged_in(tmp_path, "skd_token_one")
    agent.outbox.close()
    with Outbox(agent.paths.outbox) as box:  # the crash came right after this commit
        box.enqueue_logout("skd_token_one", lease_id="lea_1", release_token="rt_1",
                           server_url=SERVER)

    restarted = Agent(agent.config, credentials=store)
    status = restarted.status()
    assert status.state is SeatState.LOGOUT_PENDING
    assert status.account is None
    assert store.load() is None
    session = saved.load(agent.paths.data_dir)
    assert session is not None and session.lease is None and session.release_token is None
    (item,) = restarted.outbox.pending()
    assert (item.device_token, item.lease_id, item.release_token) == (
        "skd_token_one", "lea_1", "rt_1")  # the queued item keeps what delivery needs
    restarted.outbox.mark_done(item.id)
    restarted.outbox.close()

    delivered = Agent(agent.config, credentials=store)
    assert delivered.status().state is SeatState.SIGNED_OUT
    delivered.outbox.close()


def test_a_logout_queued_for_another_token_leaves_this_login_alone(tmp_path: Path) -> None:
    """A new login after a queued (older) logout is a login of its own: it stays."""
    agent, store = _logged_in(tmp_path, "skd_token_new")
    agent.outbox.enqueue_logout("skd_token_old", server_url=SERVER)
    agent.outbox.close()

    restarted = Agent(agent.config, credentials=store)
    assert store.load() == "skd_token_new"
    assert restarted.status().account == "a@example.test"
    restarted.outbox.close()


def test_restart_forgets_a_lease_whose_release_was_queued(tmp_path: Path) -> None:
    """Crash between queuing a release and forgetting the lease (found by the crash drill):
    the next start does not show that seat, whose release the outbox is about to send."""
    config = load_config(env={"SEATKEEPER_HOME": str(tmp_path)},
                         system_file=tmp_path / "no-system.toml")
    store = CredentialStore(config.paths.data_dir, use_keyring=False)
    signer = Signer("k1")
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    lease = lease_json(lease_id="lea_1", account_id="acc_1",
                       device={"id": "dev_1", "name": "survey-laptop"},
                       issued_at=format_time(now), server_time=format_time(now),
                       expires_at=format_time(now + dt.timedelta(minutes=15)))
    saved.save(config.paths.data_dir, saved.Session(
        server_url=SERVER, account_id="acc_1", email="a@example.test", device_id="dev_1",
        device_name="survey-laptop", public_keys=signer.keys, lease=signer.sign(lease),
        release_token="rt_1"))
    store.save("skd_token_one")
    held = Agent(config, credentials=store)
    assert held.status().lease_id == "lea_1"
    held.outbox.enqueue_release("lea_1", release_token="rt_1", server_url=SERVER)
    held.outbox.close()  # the crash came right after this commit

    restarted = Agent(config, credentials=store)
    status = restarted.status()
    assert status.lease_id is None and status.state is SeatState.ACQUIRING
    assert status.account == "a@example.test"
    session = saved.load(config.paths.data_dir)
    assert session is not None and session.lease is None
    (item,) = restarted.outbox.pending()
    assert (item.kind, item.lease_id, item.release_token) == ("release", "lea_1", "rt_1")
    restarted.outbox.close()
