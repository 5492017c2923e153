"""What this device remembers about its login: server, account, device, pinned keys, lease.

Kept in `session.json` in the data directory, owner-only. The device token is not
here (it is in the keyring, see credentials.py); the lease's release token is, since
a release must work even after the device token was revoked.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from seatkeeper.core import errors
from seatkeeper.core.protocol import LeaseEnvelope
from seatkeeper.service.private import owner_only

FILE = "session.json"


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
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    owner_only(data_dir)
    path = data_dir / FILE
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(asdict(session), handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def clear(data_dir: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        (data_dir / FILE).unlink()


def keys_to_pin(served: dict[str, str], configured: str | None) -> dict[str, str]:
    """The server keys to pin: the configured one (which must be served), else all served."""
    if configured is None:
        return served
    pinned = {kid: key for kid, key in served.items() if key == configured}
    if not pinned:
        raise errors.BadSignature("The server's signing key is not the one configured in "
                                  "server_public_key; check the server address.")
    return pinned


def verified_lease(session: Session | None) -> LeaseEnvelope | None:
    """The saved lease, if it still verifies against the pinned keys (a tampered file: None)."""
    if session is None or session.lease is None:
        return None
    try:
        return LeaseEnvelope.verified(session.lease, session.public_keys)
    except errors.SeatkeeperError:
        return None
