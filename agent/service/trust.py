"""The server's signing keys this device trusts, kept with the login, and rotations followed.

The key pinned at login is the root; a key the server rotates to is trusted once a
trusted key's endorsement of it verifies (core/keys.py), which the client checks when a
lease comes signed by a key not trusted yet. What that gives is kept in `session.json`
(owner-only) beside the pin: the trusted keys, and the server's listing as last read,
which applications get from the local API's `keys` to follow the endorsements from the
key they pinned themselves. Once a day the listing is read again, so keys the server
retired for good are forgotten. A mixin of `Agent`, as Answers is.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from seatkeeper.core import errors
from seatkeeper.core.keys import KeyUpdate, ListedKey, prune
from seatkeeper.core.protocol import LeaseEnvelope
from seatkeeper.core.wire import format_time
from seatkeeper.service import session as saved

if TYPE_CHECKING:
    from seatkeeper.service.client import Client

log = logging.getLogger("seatkeeper.agent")
RECHECK_KEYS_S = 86400.0


class Trust:
    """Keeping the trusted keys; `Agent` provides the state declared here."""

    paths: Any
    _lock: threading.RLock
    _clock: Callable[[], float]
    _session: saved.Session | None
    _token: str | None
    _envelope: LeaseEnvelope | None
    _clients: dict[str, Client]
    _keys_tried_at: float = 0.0

    def _keys_learned(self, update: KeyUpdate, listing: tuple[ListedKey, ...]) -> None:
        """A client read /v1/keys: keep what it trusts now (less the keys the server lists
        no more), the listing, and hand the trusted keys to every client."""
        with self._lock:
            sess = self._session
            if sess is None:
                return
            keep = {self._envelope.signature.kid} if self._envelope else set()
            trusted = prune(update.trusted, listing, keep)
            forgotten = sorted(set(sess.public_keys) - set(trusted))
            self._session = replace(sess, public_keys=trusted,
                                    server_keys=[key.to_json() for key in listing],
                                    keys_checked_at=self._clock())
            saved.save(self.paths.data_dir, self._session)
            for client in self._clients.values():
                client.public_keys = dict(trusted)
        if forgotten:
            log.info("no longer trusting the server's signing key(s) %s: it lists them no "
                     "more", ", ".join(forgotten))
        for kid, why in update.refused.items():
            log.warning("not trusting the server's signing key %s: %s", kid, why)

    def _recheck_keys(self, client: Client) -> None:
        """Read the key listing again once a day (after a heartbeat: the server answers)."""
        with self._lock:
            sess = self._session
            last = max(sess.keys_checked_at or 0.0, self._keys_tried_at) if sess else None
        if last is None or self._clock() - last < RECHECK_KEYS_S:
            return
        self._keys_tried_at = self._clock()
        try:
            client.follow_keys()
        except errors.SeatkeeperError as exc:
            log.info("could not read the server's signing keys (%s); trying again tomorrow",
                     exc)

    def server_keys(self) -> dict[str, Any]:
        """The local API's `keys`: the server's listing as last read, and the keys trusted."""
        with self._lock:
            sess = self._session
            if sess is None or self._token is None:
                raise errors.NotSignedIn()
            checked = sess.keys_checked_at
            return {"keys": list(sess.server_keys or []),
                    "read_at": None if checked is None else format_time(
                        dt.datetime.fromtimestamp(checked, dt.UTC)),
                    "trusted": sorted(sess.public_keys)}
