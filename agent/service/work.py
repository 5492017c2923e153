"""The daemon's network work, as the Agent's jobs: the seat, the outbox, the probe.

The seat job acquires and heartbeats; the outbox job delivers queued releases and
logouts; while anything waits for the server, the probe asks `/v1/health` once a
second and, when it answers, kicks the other two. They run on the scheduler's worker
threads and change the Agent's facts only through its methods (`_took`, `_refused`,
`_contact_failed`, `_apply`), under its lock.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import random
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from seatkeeper.config import Config
from seatkeeper.core import errors
from seatkeeper.core.backoff import Backoff, heartbeat_delay
from seatkeeper.core.protocol import LeaseEnvelope
from seatkeeper.core.state import Facts, app_seat_wanted
from seatkeeper.service import session as saved
from seatkeeper.service.outbox import Outbox, deliver

if TYPE_CHECKING:
    from seatkeeper.service.client import Client

log = logging.getLogger("seatkeeper.agent")

PROBE_EVERY_S = 1.0
REFUSALS_WITH_RETRY = (errors.SeatLimitReached, errors.NoLicense, errors.SupportExpired,
                       errors.LicenseExpired)


class Work:
    """The job bodies; `Agent` provides the state they read and the methods they call."""

    config: Config
    outbox: Outbox
    _lock: threading.RLock
    _seat_lock: threading.Lock
    _outbox_lock: threading.Lock
    _rng: random.Random
    _facts: Facts
    _session: saved.Session | None
    _envelope: LeaseEnvelope | None
    _given_back: set[str]
    _token: str | None
    _license_id: str | None
    _message: str | None
    _seat_failures: int
    _outbox_failures: int
    _busy_until: float
    _checked_release: dt.date | None
    _kick: Callable[..., None]
    _now: Callable[[], dt.datetime]
    _release_date: Callable[[], dt.date]
    _seat_round_started: Callable[[], None]
    _seat_round_done: Callable[[], None]
    _client: Callable[..., Client]
    _took: Callable[..., None]
    _refused: Callable[..., None]
    _contact_failed: Callable[..., None]
    _signed_out_by_server: Callable[..., None]
    _refresh_outbox_facts: Callable[[], None]
    _apply: Callable[[Facts], None]
    _returned: Callable[[], None]
    _recheck_keys: Callable[[Client], None]
    connectivity_hint: Callable[[], None]

    def _seat_job(self) -> None:
        with self._seat_lock:
            self._seat_round_started()
            try:
                delay = self._seat_round()
            finally:
                self._seat_round_done()
        if delay is not None:
            self._kick("seat", delay, again=True)

    def _seat_wanted(self) -> bool:
        """Whether a seat should be held now (the caller holds the lock)."""
        facts = self._facts
        return not (self._token is None or facts.logout_pending or facts.seat_released
                    or facts.discovery_chosen
                    or (facts.refusal is not None and facts.refusal.code == "LEASE_REVOKED")
                    or not app_seat_wanted(facts, self._now()))

    def _seat_round(self) -> float | None:
        with self._lock:
            envelope = self._envelope
            if not self._seat_wanted():
                return None
            client = self._client("seat")
        kept_token = None
        try:
            if envelope is not None:
                try:
                    fresh = client.heartbeat(envelope.lease.lease_id)
                except (errors.LeaseExpired, errors.NotFound):
                    with self._lock:
                        # Ended because it was given back (a release or a logout while the
                        # heartbeat was in flight)? Then no seat is wanted: asking would
                        # take one that the logout or release must free a second time.
                        if not self._seat_wanted():
                            return None
                    log.info("lease %s ended on the server; asking for a seat again",
                             envelope.lease.lease_id)
                    fresh, kept_token = self._acquire(client)
            else:
                fresh, kept_token = self._acquire(client)
            if self._session is not None:
                saved.check_ours(fresh, self._session)
        except errors.LeaseRevoked as exc:
            self._refused(exc, drop_lease=True)
            return None
        except errors.Unauthenticated as exc:
            self._signed_out_by_server(exc)
            return None
        except REFUSALS_WITH_RETRY as exc:
            self._refused(exc, drop_lease=True)
            return self.config.seat_retry_s
        except (errors.RateLimited, errors.Unavailable) as exc:
            self._refused(exc, drop_lease=False)
            self._told_to_wait(exc.retry_after)
            return exc.retry_after or self._seat_backoff()
        except errors.Refusal as exc:
            self._refused(exc, drop_lease=False)
            return self._seat_backoff()
        except errors.NetworkError as exc:
            self._contact_failed(exc, client)
            return self._seat_backoff()
        self._seat_failures = 0
        self._took(fresh, client, kept_token)
        self._recheck_keys(client)
        if fresh.lease.release_token is not None:
            # A new lease's envelope carries its release token, which applications must not
            # see: heartbeat at once for one without it (docs/local-api.md, `envelope`).
            try:
                fresh = client.heartbeat(fresh.lease.lease_id)
            except errors.SeatkeeperError as exc:
                log.info("the first heartbeat of a new lease failed (%s); retrying soon", exc)
                return 1.0
            self._took(fresh, client)
        return heartbeat_delay(fresh.lease.heartbeat_interval_s, self._rng)

    def _acquire(self, client: Client) -> tuple[LeaseEnvelope, str | None]:
        """Ask for a seat: the lease, and its release token if we had queued it to give back.

        A release still queued (a shutdown's, a crash's) is delivered first, under the
        outbox lock, so the seat given back stays given back and a new one is taken. If
        it cannot be delivered now, the server may hand back that same lease (the device
        still holds it): the queued release is then cancelled, since delivering it later
        would end the seat shown as held.
        """
        queued = any(item.kind == "release" for item in self.outbox.pending())
        delivered = 0
        with self._outbox_lock if queued else contextlib.nullcontext():
            if queued:
                delivered = deliver(self.outbox, client, client.server_url,
                                    told_to_wait=self._told_to_wait)
            released = self._release_date()
            envelope = client.acquire(
                app_name=self.config.app_name, app_version=self.config.app_version,
                app_release_date=released, license_id=self._license_id)
            self._checked_release = released
            kept = [item for item in self.outbox.pending() if item.kind == "release"
                    and item.lease_id == envelope.lease.lease_id] if queued else []
            for item in kept:
                self.outbox.mark_done(item.id)
                with self._lock:
                    self._given_back.discard(envelope.lease.lease_id)  # held again
        if delivered or kept:
            with self._lock:
                self._refresh_outbox_facts()
        if not kept:
            return envelope, None
        log.info("the server gave back lease %s, whose release was still queued: keeping "
                 "the seat, the release is cancelled", envelope.lease.lease_id)
        return envelope, next((i.release_token for i in kept if i.release_token), None)

    def _told_to_wait(self, retry_after: float | None) -> None:
        """The server said Retry-After: neither the seat nor the outbox asks sooner."""
        if retry_after:
            self._busy_until = max(self._busy_until, time.monotonic() + retry_after)

    def _seat_backoff(self) -> float:
        self._seat_failures += 1
        self._kick("probe", PROBE_EVERY_S)
        return max(1.0, Backoff().delay(self._seat_failures - 1, self._rng))

    def _outbox_job(self) -> None:
        with self._outbox_lock:
            pending = self.outbox.pending()
            if not pending:
                self._after_outbox()
                return
            had_logout = any(item.kind == "logout" for item in pending)
            servers = {item.server_url for item in pending}
            failed = False
            for url in servers:
                fallback = self._session.server_url if self._session else None
                target = url or fallback
                if target is None:
                    continue
                client = self._client("outbox:" + target, target)
                remaining = [i for i in self.outbox.pending() if i.server_url in (url, None)]
                delivered = deliver(self.outbox, client, target, told_to_wait=self._told_to_wait)
                failed = failed or delivered < len(remaining)
            self._after_outbox(had_logout)
        if failed:
            self._outbox_failures += 1
            self._kick("probe", PROBE_EVERY_S)
            self._kick("outbox", max(1.0, Backoff().delay(self._outbox_failures - 1, self._rng)),
                       again=True)
        else:
            self._outbox_failures = 0

    def _after_outbox(self, had_logout: bool = False) -> None:
        with self._lock:
            self._refresh_outbox_facts()
            if not any(item.kind == "release" for item in self.outbox.pending()):
                self._returned()
            if had_logout and not self._facts.logout_pending:
                log.info("the queued logout was delivered: the seat is free and the token "
                         "revoked")
                self._message = "Logged out: your seat is free for another device."
                self._apply(self._facts)

    def _probe_job(self) -> None:
        """While something waits for the server, ask it cheaply whether it is back.

        A failure the person must fix (an untrusted certificate, a forged lease) is not
        waiting for the network: probing would only re-ask once a second, forever; the
        seat job's own backoff retries it.
        """
        with self._lock:
            facts = self._facts
            waiting = ((facts.contact_failure is not None and facts.error is None)
                       or facts.pending_items)
            url = self._session.server_url if self._session else None
        if not waiting or url is None:
            return
        client = self._client("probe", url, timeout=(2.0, 3.0))
        try:
            client.health()
        except errors.SeatkeeperError:
            self._kick("probe", PROBE_EVERY_S, again=True)
            return
        log.info("the license server answers again")
        self._seat_failures = self._outbox_failures = 0
        self.connectivity_hint()
