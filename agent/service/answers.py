"""The server's answers to a seat request applied to the Agent, and leases given back.

An answer is a lease, a refusal or a failure; a lease given back is queued in the outbox.

A mixin of `Agent` (daemon.py), as AppSeat and Borrowing are: `Agent` provides the state
and the methods named below. Every answer changes the facts under the agent's lock and
goes through `_apply`, the one place the state is decided.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from seatkeeper.core import errors
from seatkeeper.core.protocol import LeaseEnvelope, SeatHolder
from seatkeeper.core.state import Facts, Holder, SeatRefusal
from seatkeeper.service import session as saved
from seatkeeper.service.credentials import CredentialStore
from seatkeeper.service.outbox import Outbox
from seatkeeper.service.server_clock import ServerClock

if TYPE_CHECKING:
    from seatkeeper.service.client import Client  # requests: imported when first used

log = logging.getLogger("seatkeeper.agent")

# Failures no retry can mend: the person must fix something (trust, server, config).
MUST_FIX = (errors.TLSError, errors.BadSignature, errors.InsecureServerURL)


class Answers:
    """How the Agent takes in the server's answers; `Agent` provides what is declared here."""

    paths: Any
    credentials: CredentialStore
    _lock: threading.RLock
    _token: str | None
    _given_back: set[str]
    _facts: Facts
    _envelope: LeaseEnvelope | None
    _server_clock: ServerClock
    _session: saved.Session | None
    _holders: tuple[Holder, ...]
    _message: str | None
    _release_reason: str
    outbox: Outbox
    _refresh_outbox_facts: Callable[[], None]
    _apply: Callable[[Facts], None]
    _kick: Callable[..., None]

    def _queue_release(self, reason: str) -> None:
        """Queue the current lease's release (caller holds the lock) and forget the lease."""
        envelope, sess = self._envelope, self._session
        if envelope is None or sess is None:
            return
        self._queue_release_of(envelope, reason)
        self._envelope = None
        self._session = sess.with_lease(None, None)
        saved.save(self.paths.data_dir, self._session)
        self._apply(replace(self._facts, lease_expires_at=None))

    def _queue_release_of(self, envelope: LeaseEnvelope, reason: str) -> None:
        """Queue the release of `envelope`'s lease, with the release token kept on
        disk (the caller holds the lock); the lease itself is left to the caller."""
        sess = self._session
        if sess is None:
            return
        self.outbox.enqueue_release(envelope.lease.lease_id, reason=reason,
                                    release_token=sess.release_token,
                                    device_token=None if sess.release_token else self._token,
                                    server_url=sess.server_url)
        self._given_back.add(envelope.lease.lease_id)
        self._refresh_outbox_facts()

    def _took(self, envelope: LeaseEnvelope, client: Client,
              release_token: str | None = None) -> None:
        with self._lock:
            if self._token is None:
                return  # logged out while the request was in flight (the logout frees it)
            if envelope.lease.lease_id in self._given_back:
                # A heartbeat (or acquire) answered for a lease given back meanwhile: its
                # release is queued or already delivered; queuing it again would send a
                # second release once the first has left the outbox.
                log.info("lease %s was given back while a request for it was in flight; "
                         "its answer is ignored", envelope.lease.lease_id)
                return
            late = self._facts.seat_released or self._facts.discovery_chosen
            self._envelope = envelope
            self._server_clock.seen(envelope.lease.server_time)
            token = envelope.lease.release_token or release_token
            if self._session is not None:
                keep = token or self._session.release_token
                same = (self._session.lease or {}).get("lease", {}).get("lease_id") == \
                    envelope.lease.lease_id
                self._session = self._session.with_lease(
                    envelope.to_json(), keep if (token or same) else None)
                saved.save(self.paths.data_dir, self._session)
            if late:
                # Released (or Discovery mode chosen) while the request was in flight: the
                # server has just given a seat we no longer want, so it goes back too.
                log.info("a seat came back after it was given up: releasing lease %s",
                         envelope.lease.lease_id)
                self._queue_release(self._release_reason)
            else:
                self._holders = ()
                self._message = None  # an earlier failure's words no longer apply
                self._apply(replace(self._facts, lease_expires_at=envelope.lease.expires_at,
                                    refusal=None, contact_failure=None, error=None,
                                    clock_skew_s=client.clock_skew_s or 0.0))
        if late:
            self._kick("outbox")

    def _refused(self, exc: errors.Refusal, *, drop_lease: bool) -> None:
        with self._lock:
            if drop_lease:
                self._envelope = None
            holders = exc.details.get("devices") if exc.code == "SEAT_LIMIT_REACHED" else None
            self._holders = tuple(
                Holder(name=h.name, id=h.id, last_heartbeat_at=h.last_heartbeat_at)
                for h in (SeatHolder.from_json(d) for d in holders or ())
                if h is not None)
            refusal = SeatRefusal(code=exc.code, message=str(exc), details=exc.details)
            self._apply(replace(self._facts, refusal=refusal, contact_failure=None,
                                lease_expires_at=None if drop_lease
                                else self._facts.lease_expires_at))

    def _contact_failed(self, exc: errors.NetworkError, client: Client) -> None:
        with self._lock:
            kind = errors.failure_kind(exc)
            # Say why once per kind of failure, not at every retry.
            log.log(logging.DEBUG if kind == self._facts.contact_failure else logging.WARNING,
                    "seat request failed: %s", exc)
            self._message = str(exc)
            self._apply(replace(self._facts, contact_failure=kind,
                                error=str(exc) if isinstance(exc, MUST_FIX) else None,
                                clock_skew_s=client.clock_skew_s or self._facts.clock_skew_s))

    def _signed_out_by_server(self, exc: errors.Refusal) -> None:
        with self._lock:
            log.warning("the server no longer accepts this device's token: %s", exc)
            self.credentials.clear()
            self._token, self._envelope = None, None
            self._message = "This device was signed out by the server. Log in again."
            self._apply(replace(self._facts, signed_in=False, lease_expires_at=None,
                                refusal=None))
