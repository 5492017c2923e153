"""The durable outbox: survives reopening, stays private, collapses duplicates, delivers once."""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
import stat
from pathlib import Path

import pytest
from seatkeeper.core import errors
from seatkeeper.service.outbox import Outbox, deliver


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "outbox.sqlite3"


def test_enqueue_survives_reopen(path: Path) -> None:
    """An item written and committed is there for a new connection (a new process)."""
    with Outbox(path) as box:
        box.enqueue_logout("device-token", lease_id="L1", release_token="rt")
    with Outbox(path) as box:
        (item,) = box.pending()
    assert (item.kind, item.lease_id, item.device_token, item.release_token) == (
        "logout", "L1", "device-token", "rt")
    raw = sqlite3.connect(path).execute("SELECT COUNT(*) FROM items").fetchone()
    assert raw == (1,)


def test_file_is_owner_only_and_durable(path: Path) -> None:
    """The file is 0600 in a 0700 folder, in WAL mode with synchronous=FULL."""
    with Outbox(path) as box:
        box.enqueue_release("L1", release_token="rt")
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
        for sidecar in (Path(f"{path}-wal"), Path(f"{path}-shm")):
            if sidecar.exists():
                assert stat.S_IMODE(os.stat(sidecar).st_mode) & 0o077 == 0
        assert box._db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert box._db.execute("PRAGMA synchronous").fetchone() == (2,)


def test_duplicate_logout_collapses(path: Path) -> None:
    """Log Out chosen twice for one login is one item; a lease learnt later joins it."""
    with Outbox(path) as box:
        first = box.enqueue_logout("tok")
        second = box.enqueue_logout("tok", lease_id="L9", release_token="rt")
        assert first == second
        (item,) = box.pending()
        assert item.lease_id == "L9" and item.release_token == "rt"
        assert box.has_logout()


def test_release_folds_into_logout(path: Path) -> None:
    """A queued release of the lease a logout also gives back is not sent twice."""
    with Outbox(path) as box:
        box.enqueue_release("L1", reason="shutdown", device_token="tok")
        assert box.enqueue_release("L1", reason="shutdown", device_token="tok") == 1
        box.enqueue_logout("tok", lease_id="L1")
        assert [i.kind for i in box.pending()] == ["logout"]
        box.enqueue_release("L1", reason="user", device_token="tok")
        assert [i.kind for i in box.pending()] == ["logout"]


def test_release_needs_a_token_and_a_known_reason(path: Path) -> None:
    """A release without any token, or with an unknown reason, is a programming error."""
    with Outbox(path) as box, pytest.raises(ValueError):
        box.enqueue_release("L1")
    with Outbox(path) as box, pytest.raises(ValueError):
        box.enqueue_release("L1", reason="bored", device_token="t")


def test_repr_hides_tokens(path: Path) -> None:
    """Tokens never show in repr or str, so they never reach a log."""
    with Outbox(path) as box:
        box.enqueue_logout("secret-device-token", lease_id="L1", release_token="secret-rt")
        (item,) = box.pending()
    assert "secret" not in repr(item) and "secret" not in str(item)
    assert "<hidden>" in repr(item)
    assert "secret" not in repr(item.summary())


def test_record_attempt_and_mark_done(path: Path) -> None:
    """Failed attempts are counted with their message; done items disappear."""
    with Outbox(path) as box:
        item_id = box.enqueue_release("L1", device_token="t")
        box.record_attempt(item_id, "timed out")
        (item,) = box.pending()
        assert (item.attempts, item.last_error) == (1, "timed out")
        assert item.summary().to_json()["attempts"] == 1
        box.mark_done(item_id)
        box.mark_done(item_id)
        assert box.pending() == [] and box.get(item_id) is None


def test_corrupt_file_is_a_storage_error(path: Path) -> None:
    """A file that is not SQLite gives a clear StorageError, not a crash."""
    path.parent.mkdir(parents=True)
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(errors.StorageError, match="outbox"):
        Outbox(path)


def _enqueue_many(path: str, prefix: str, count: int) -> None:
    with Outbox(Path(path)) as box:
        for i in range(count):
            box.enqueue_release(f"{prefix}-{i}", device_token="t")
            box.enqueue_logout("shared-token")


def test_concurrent_processes(path: Path) -> None:
    """Two processes writing at once lose nothing and still collapse the shared logout."""
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_enqueue_many, args=(str(path), p, 40)) for p in "ab"]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(30)
        assert proc.exitcode == 0
    with Outbox(path) as box:
        items = box.pending()
    assert len([i for i in items if i.kind == "release"]) == 80
    assert len([i for i in items if i.kind == "logout"]) == 1


class FakeClient:
    """Records calls; each call pops its next outcome (None = success, or an exception)."""

    def __init__(self, *outcomes: BaseException | None) -> None:
        self.outcomes = list(outcomes)
        self.calls: list[tuple[str, ...]] = []

    def _next(self) -> None:
        outcome = self.outcomes.pop(0) if self.outcomes else None
        if outcome is not None:
            raise outcome

    def release(self, lease_id: str, *, reason: str = "user", release_token: str | None = None,
                token: str | None = None) -> None:
        self.calls.append(("release", lease_id, reason, release_token or "", token or ""))
        self._next()

    def logout(self, *, token: str | None = None) -> None:
        self.calls.append(("logout", token or ""))
        self._next()


def test_deliver_logout_releases_then_revokes(path: Path) -> None:
    """A logout sends DELETE with the release token, then the logout with the device token."""
    with Outbox(path) as box:
        box.enqueue_logout("tok", lease_id="L1", release_token="rt")
        client = FakeClient()
        assert deliver(box, client) == 1
        assert box.pending() == []
    assert client.calls == [("release", "L1", "logout", "rt", ""), ("logout", "tok")]


def test_deliver_crash_between_steps_does_not_repeat_release(path: Path) -> None:
    """Once the release step is confirmed it is recorded; the next round only logs out."""
    with Outbox(path) as box:
        box.enqueue_logout("tok", lease_id="L1", release_token="rt")
        first = FakeClient(None, errors.Timeout())
        assert deliver(box, first) == 0
        (item,) = box.pending()
        assert item.release_done and item.attempts == 1
    with Outbox(path) as box:
        second = FakeClient()
        assert deliver(box, second) == 1
    assert second.calls == [("logout", "tok")]


@pytest.mark.parametrize("gone", [errors.LeaseExpired(), errors.NotFound(),
                                  errors.LeaseRevoked(), errors.Unauthenticated()])
def test_release_already_gone_counts_as_done(path: Path, gone: Exception) -> None:
    """410 or 404 (or a token already revoked) means the seat is already given back."""
    with Outbox(path) as box:
        box.enqueue_release("L1", device_token="tok")
        assert deliver(box, FakeClient(gone)) == 1


def test_logout_already_revoked_counts_as_done(path: Path) -> None:
    """A 401 on logout means the token is already revoked: done."""
    with Outbox(path) as box:
        box.enqueue_logout("tok")
        client = FakeClient(errors.Unauthenticated())
        assert deliver(box, client) == 1
    assert client.calls == [("logout", "tok")]


@pytest.mark.parametrize("failure", [errors.ConnectionRefused(), errors.Timeout(),
                                     errors.ServerUnavailable(), errors.TLSError(),
                                     errors.Unavailable(), errors.RateLimited()])
def test_network_errors_leave_items(path: Path, failure: Exception) -> None:
    """A failure that a retry may cure keeps the item and stops the round."""
    with Outbox(path) as box:
        box.enqueue_release("L1", device_token="t")
        box.enqueue_release("L2", device_token="t")
        client = FakeClient(failure)
        assert deliver(box, client) == 0
        assert len(box.pending()) == 2 and len(client.calls) == 1
        assert box.pending()[0].last_error == str(failure)


def test_permanent_refusal_drops_the_item(path: Path) -> None:
    """A 403 no retry can change does not keep a logout pending forever."""
    with Outbox(path) as box:
        box.enqueue_logout("tok")
        box.enqueue_release("L2", device_token="t")
        assert deliver(box, FakeClient(errors.Forbidden())) == 2
        assert box.pending() == []


def test_items_wait_for_the_server_they_were_queued_for(tmp_path: Path) -> None:
    """An item queued for one server is never sent to another."""
    with Outbox(tmp_path / "outbox.sqlite3") as box:
        box.enqueue_logout("tok", lease_id="L1", server_url="https://a.example")
        client = FakeClient()
        assert deliver(box, client, "https://b.example") == 0
        assert client.calls == []
        assert deliver(box, client, "https://a.example") == 1
