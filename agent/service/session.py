"""What this device remembers about its login: server, account, device, pinned keys, lease.

Kept in `session.json` in the data directory, owner-only. The device token is not
here (it is in the keyring, see credentials.py); the lease's release token is, since
a release must work even after the device token was revoked.
"""

from __future__ import annotations

import contextlib
import json
import logging
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from seatkeeper.core import errors
from seatkeeper.core.keys import ListedKey, first_pin
from seatkeeper.core.protocol import LeaseEnvelope, verify_b64
from seatkeeper.service.private import write_secret

FILE = "session.json"
log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class Session:
    server_url: str
    account_id: str
    email: str
    device_id: str
    device_name: str
    public_keys: dict[str, str] = field(default_factory=dict)
    # The last verified lease as the server sent it (raw JSON), and its release token.
    lease: dict[str, Any] | None = None
    release_token: str | None = field(default=None, repr=False)
    # The server's key listing as last read (/v1/keys, for the local API's `keys`), and when.
    server_keys: list[dict[str, Any]] | None = None
    keys_checked_at: float | None = None

    def with_lease(self, lease: dict[str, Any] | None, release_token: str | None) -> Session:
        return replace(self, lease=lease, release_token=release_token)


def load(data_dir: Path) -> Session | None:
    """The saved session, or None when there is none (or it is unreadable: log in again)."""
    try:
        data = json.loads((data_dir / FILE).read_text(encoding="utf-8"))
        return Session(**data)
    except (FileNotFoundError, ValueError, TypeError):
        return None


def save(data_dir: Path, session: Session) -> None:
    """Write atomically, owner-only, synced: a crash leaves the old file or the new one."""
    write_secret(data_dir / FILE, json.dumps(asdict(session)))


def clear(data_dir: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        (data_dir / FILE).unlink()


def keys_to_pin(listing: tuple[ListedKey, ...], configured: str | None) -> dict[str, str]:
    """The server keys to trust at login: the configured one, else the current one, and the
    keys they endorse. The only time a key is trusted on first use: from then on a new key
    needs an endorsement (core/keys.py)."""
    pinned = first_pin(listing, configured, verify_b64)
    if pinned is None:
        raise errors.BadSignature(
            "The server's signing key is not the one configured in server_public_key, nor "
            "endorsed by it; check the server address." if configured is not None else
            "The license server lists no signing key; check the server address.")
    return pinned


def check_ours(envelope: LeaseEnvelope, session: Session) -> LeaseEnvelope:
    """The lease, if it names this device and account; else `ForeignLease`.

    A signature proves the server issued the lease, not to whom: a lease copied from
    another device (or handed over by whoever answers for the server) must not make
    this one believe it holds a seat.
    """
    lease = envelope.lease
    if lease.device.id != session.device_id or lease.account_id != session.account_id:
        raise errors.ForeignLease(
            f"The seat lease {lease.lease_id} names another device ({lease.device.name}) or "
            "account, not this device; it is not trusted.")
    return envelope


def verified_lease(session: Session | None) -> LeaseEnvelope | None:
    """The saved lease, if it verifies against the pinned keys and names this device and
    account (a tampered or copied file: None)."""
    if session is None or session.lease is None:
        return None
    try:
        return check_ours(LeaseEnvelope.verified(session.lease, session.public_keys), session)
    except errors.ForeignLease as exc:
        log.warning("%s", exc)
        return None
    except errors.SeatkeeperError:
        return None
