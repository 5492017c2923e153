"""The agent's engine and its control interface: status, login, logout, release, sessions.

One `Agent` per data directory. Its facts (session, lease, last answer, outbox,
applications' sessions) change only under its lock; every change goes through `_apply`,
which decides the state with the pure `decide`, logs `from -> to`, and notifies
subscribers (the tray) and change listeners (the local API's `watch`).
Network work runs on the scheduler's worker threads: the seat job (acquire and
heartbeat), the outbox job (queued releases and logouts) and, while something waits
for the server, a cheap connectivity probe; their bodies are in `work.py`.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from seatkeeper.config import Config
from seatkeeper.core import errors
from seatkeeper.core.keys import ListedKey
from seatkeeper.core.protocol import LoginResult
from seatkeeper.core.state import Facts, Holder, Status, decide, lease_held, server_now
from seatkeeper.service import session as saved
from seatkeeper.service.answers import Answers
from seatkeeper.service.app_seat import AppSeat, AppSession
from seatkeeper.service.borrowing import Borrowing
from seatkeeper.service.credentials import CredentialStore
from seatkeeper.service.identity import device_fingerprint, device_platform
from seatkeeper.service.outbox import Outbox, deliver
from seatkeeper.service.private import private_dirs
from seatkeeper.service.server_clock import ServerClock
from seatkeeper.service.trust import Trust
from seatkeeper.service.view import build_status
from seatkeeper.service.work import Work

if TYPE_CHECKING:
    # requests and APScheduler are imported when first used, not at start (docs/benchmarks.md)
    from seatkeeper.service.client import Client
    from seatkeeper.service.jobs import Jobs

log = logging.getLogger("seatkeeper.agent")


def _utcnow(clock: Callable[[], float]) -> dt.datetime:
    return dt.datetime.fromtimestamp(clock(), dt.UTC)


class Agent(Answers, Work, AppSeat, Borrowing, Trust):
    """The control interface both front ends use; the daemon runs its jobs."""

    def __init__(self, config: Config, *, clock: Callable[[], float] = time.time,
                 rng: random.Random | None = None,
                 credentials: CredentialStore | None = None) -> None:
        self.config = config
        self.paths = config.paths
        self._clock = clock
        self._rng = rng or random.Random()
        self._lock = threading.RLock()
        self._seat_lock = threading.Lock()
        self._release_reason = "user"  # why the seat was last given back
        # Leases this process queued to give back (release, logout): a seat request's answer
        # about one of them, arriving late, is stale and never adopted or queued again.
        self._given_back: set[str] = set()
        self._return_pending = False  # a borrowed seat returned, its release not yet delivered
        self._outbox_lock = threading.Lock()
        private_dirs(self.paths.folders)
        self.credentials = credentials or CredentialStore(self.paths.data_dir)
        self.outbox = Outbox(self.paths.outbox)
        self._session = saved.load(self.paths.data_dir)
        self._token = self.credentials.load() if self._session else None
        if self._token is not None and self._session is not None and any(
                item.kind == "logout" and item.device_token == self._token
                for item in self.outbox.pending()):
            # A crash came between queuing this login's logout and forgetting it locally.
            log.info("a logout of %s is queued; finishing it locally", self._session.email)
            self._forget_login(self._session)
        self._envelope = saved.verified_lease(self._session) if self._token else None
        if self._envelope is not None and self._session is not None and any(
                item.kind == "release" and item.lease_id == self._envelope.lease.lease_id
                for item in self.outbox.pending()):
            # A crash came between queuing this lease's release and forgetting it locally:
            # trusting it now would show a seat that the outbox is about to give back.
            log.info("the release of lease %s is queued; finishing it locally",
                     self._envelope.lease.lease_id)
            self._envelope = None
            self._session = self._session.with_lease(None, None)
            saved.save(self.paths.data_dir, self._session)
        self._server_clock = ServerClock(self.paths.data_dir)
        if self._envelope is not None:
            self._server_clock.seen(self._envelope.lease.server_time)
        self._clients: dict[str, Client] = {}
        self._subscribers: list[Callable[[Status], None]] = []
        self._listeners: list[Callable[[], None]] = []
        self._sessions: dict[str, AppSession] = {}
        self._checked_release: dt.date | None = None
        self._seat_rounds = threading.Condition()
        self._seat_rounds_started = self._seat_rounds_done = 0
        self._seat_failures = 0
        self._outbox_failures = 0
        # time.monotonic() before which the seat and outbox jobs do not ask the server again:
        # its last 429/503 said Retry-After, and the protocol says retry no sooner.
        self._busy_until = 0.0
        self._facts = self._with_floor(Facts(
            signed_in=self._token is not None,
            lease_expires_at=self._envelope.lease.expires_at if self._envelope else None,
            seat_mode=config.seat_mode))
        self._state = decide(self._facts, self._now())
        self._holders: tuple[Holder, ...] = ()
        self._message: str | None = None
        # The license the user picked ("Use another license"); None: the server chooses.
        self._license_id: str | None = None
        self.jobs: Jobs | None = None
        self._refresh_outbox_facts()

    # -- the control interface ------------------------------------------------------------

    def status(self) -> Status:
        with self._lock:
            return self._status()

    def login(self, email: str, password: str, server_url: str | None = None) -> Status:
        """Sign this device in with a password; a seat is asked for straight away."""
        url = server_url or (self._session.server_url if self._session else None) \
            or self.config.server_url
        if not url:
            raise errors.ConfigError("No license server is set: give --server URL, or set "
                                     "server_url in the configuration.")
        from seatkeeper.service.client import Client

        client = Client(url, ca_bundle=self.config.ca_bundle)
        try:
            listing = client.key_listing()
            keys = saved.keys_to_pin(listing, self.config.server_public_key)
            result = client.login_password(
                email, password, fingerprint=device_fingerprint(self.paths.data_dir),
                name=self.config.device_name, platform=device_platform())
        finally:
            client.close()
        return self.adopt_login(client.server_url, keys, result, listing)

    def adopt_login(self, server_url: str, keys: dict[str, str], result: LoginResult,
                    listing: tuple[ListedKey, ...] = ()) -> Status:
        """Keep a login the server granted (password or browser); a seat is asked for next."""
        new = saved.Session(server_url=server_url, account_id=result.account.id,
                            email=result.account.email, device_id=result.device.id,
                            device_name=result.device.name, public_keys=keys,
                            server_keys=[key.to_json() for key in listing],
                            keys_checked_at=self._clock())
        self.credentials.save(result.token)
        saved.save(self.paths.data_dir, new)
        self._license_id = None
        log.info("logged in as %s on %s (device %s)", new.email, new.server_url, new.device_id)
        with self._lock:
            self._session, self._token, self._envelope = new, result.token, None
            self._server_clock.forget()
            self._message = None
            self._clients.clear()
            # A fresh start for the seat; the seat mode and the applications' sessions stay.
            self._apply(Facts(signed_in=True, seat_mode=self._facts.seat_mode,
                              app_sessions=self._facts.app_sessions,
                              app_idle_until=self._facts.app_idle_until))
        self._kick("seat")
        return self.status()

    def logout(self) -> Status:
        """Give the seat back and sign out; queued durably first, so it survives any crash."""
        with self._lock:
            sess, token, envelope = self._session, self._token, self._envelope
            if sess is None or token is None:
                return self._status()
            lease = envelope.lease if envelope else None
            self.outbox.enqueue_logout(token, lease_id=lease.lease_id if lease else None,
                                       release_token=sess.release_token,
                                       server_url=sess.server_url)
            if lease is not None:
                self._given_back.add(lease.lease_id)
            self._forget_login(sess)
            self._clients.pop("seat", None)
            # One change, straight to logout_pending (the logout is queued by now).
            self._apply(replace(self._facts, signed_in=False, lease_expires_at=None,
                                refusal=None, seat_released=False, discovery_chosen=False,
                                logout_pending=True))
            self._refresh_outbox_facts()
            log.info("logout of %s queued", sess.email)
        self._kick("outbox")
        return self.status()

    def release(self, reason: str = "user") -> Status:
        """Give the seat back but stay logged in; no new seat until `acquire` or a restart."""
        with self._lock:
            # Marked released first, so dropping the lease goes straight to `released`.
            self._release_reason = reason
            self._apply(replace(self._facts, seat_released=True, refusal=None))
            self._queue_release(reason)
        self._kick("outbox")
        return self.status()

    def release_now(self, reason: str, budget_s: float) -> bool:
        """Release the seat and deliver it on this thread within `budget_s` (shutdown's way).

        The release is queued durably first; if the server does not confirm it in time,
        it stays in the outbox for the next start. True when the server confirmed it.
        """
        deadline = time.monotonic() + budget_s
        with self._lock:
            self._release_reason = reason
            asking = self._envelope is None and self._token is not None
            self._apply(replace(self._facts, seat_released=True, refusal=None))
            self._queue_release(reason)
            url = self._session.server_url if self._session else None
        if asking and self._seat_lock.acquire(timeout=budget_s / 2):
            # A seat request in flight has now ended: a seat it got is queued to go back
            # too (`_took`), and goes with this delivery.
            self._seat_lock.release()
        if url is None or not self._outbox_lock.acquire(timeout=max(0.0, budget_s)):
            return False
        try:
            left = deadline - time.monotonic()
            if left > 0.05:
                # connect and read together stay in budget; a connect is usually quick,
                # so the answer gets the larger share
                from seatkeeper.service.client import Client

                client = Client(url, token=self._token, ca_bundle=self.config.ca_bundle,
                                timeout=(left / 4, left * 3 / 4))
                try:
                    deliver(self.outbox, client, url)
                finally:
                    client.close()
        finally:
            self._outbox_lock.release()
        with self._lock:
            self._refresh_outbox_facts()
        return not any(item.kind == "release" for item in self.outbox.pending())

    def resumed(self) -> None:
        """Back from sleep: heartbeat at once (a lease that expired meanwhile is taken again)."""
        self._kick("seat")
        self._kick("outbox")

    def acquire(self, license_id: str | None = None) -> Status:
        """Ask for a seat now (after a release, Discovery mode, or to retry a refusal at once).

        `license_id` picks one of the account's licenses; None lets the server choose.
        """
        with self._lock:
            self._license_id = license_id
            self._apply(replace(self._facts, seat_released=False, discovery_chosen=False))
        self._kick("seat")
        return self.status()

    def continue_in_discovery(self) -> Status:
        """Stop asking for a seat and stay in Discovery mode until `acquire` or a restart."""
        with self._lock:
            self._queue_release("user")
            self._apply(replace(self._facts, discovery_chosen=True, refusal=None))
        self._kick("outbox")
        return self.status()

    def subscribe(self, callback: Callable[[Status], None]) -> Callable[[], None]:
        """Call `callback(status)` on every state change; returns the unsubscribe function."""
        with self._lock:
            self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback)

    # -- running ------------------------------------------------------------------------

    def start(self) -> None:
        """Start the jobs: deliver what waits in the outbox first, then take a seat."""
        from seatkeeper.service.jobs import Jobs

        self.jobs = Jobs({"seat": self._seat_job, "outbox": self._outbox_job,
                          "probe": self._probe_job, "idle": self._idle_job,
                          "expiry": self._expiry_job})
        self.jobs.start()
        self._start_idle_wait()
        self._kick("outbox")
        self._kick("seat")

    def stop(self) -> None:
        self._server_clock.save()
        if self.jobs is not None:
            self.jobs.stop()
        for client in list(self._clients.values()):
            client.close()

    def connectivity_hint(self) -> None:
        """The network may be back (health probe, NetworkManager): try what waits now."""
        self._kick("outbox")
        with self._lock:
            if self._facts.contact_failure is not None:
                self._kick("seat")

    # -- jobs ---------------------------------------------------------------------------

    def _kick(self, job: str, delay: float = 0.0, *, again: bool = False) -> None:
        """Run `job` soon; `again` is a job rescheduling itself (never delays a kick).

        The seat and the outbox wait out the server's last Retry-After, however kicked
        (a probe that finds the server answering again, a login, a Log Out).
        """
        if job in ("seat", "outbox"):
            delay = max(delay, self._busy_until - time.monotonic())
        if self.jobs is not None:
            self.jobs.schedule(job, delay, keep_sooner=again)

    # -- facts -------------------------------------------------------------------------

    def _forget_login(self, sess: saved.Session) -> None:
        """The local half of a logout, once it is queued: token, lease and release token."""
        self.credentials.clear()
        self._session = replace(sess, lease=None, release_token=None)
        saved.save(self.paths.data_dir, self._session)
        self._token, self._envelope = None, None

    def _refresh_outbox_facts(self) -> None:
        items = self.outbox.pending()
        self._apply(replace(self._facts, logout_pending=any(i.kind == "logout" for i in items),
                            pending_items=len(items)))

    def _apply(self, facts: Facts) -> None:
        """The one place state changes: decide, log `from -> to`, tell the front ends."""
        with self._lock:
            borrowed = self._facts.borrowed_until
            self._facts = facts = self._with_floor(facts)
            now = self._now()
            new = decide(facts, now)
            listeners = list(self._listeners)
            if lease_held(facts, now) and facts.lease_expires_at is not None:
                # Offline, nothing else happens when the seat runs out: look again then.
                left = (facts.lease_expires_at - server_now(facts, now)).total_seconds()
                self._kick("expiry", left + 0.05)
            if new is self._state and facts.borrowed_until == borrowed:
                self._tell(listeners)
                return
            if new is not self._state:
                log.info("state %s -> %s", self._state.value, new.value)
            self._state = new
            status = self._status()
            subscribers = list(self._subscribers)
        for callback in subscribers:
            try:
                callback(status)
            except Exception:
                log.exception("a status subscriber failed")
        self._tell(listeners)

    @staticmethod
    def _tell(listeners: list[Callable[[], None]]) -> None:
        for listener in listeners:
            try:
                listener()
            except Exception:
                log.exception("a change listener failed")

    def _with_floor(self, facts: Facts) -> Facts:
        """The facts with the server-time floor as of now (kept on disk now and then), and the
        held lease's `borrowed_until`."""
        self._server_clock.save_if_due()
        lease = self._envelope.lease if self._envelope else None
        return replace(facts, server_time_floor=self._server_clock.floor(),
                       borrowed_until=lease.borrowed_until if lease else None)

    def _status(self) -> Status:
        return build_status(self._with_floor(self._facts), self._now(), session=self._session,
                            signed_in=self._token is not None, envelope=self._envelope,
                            holders=self._holders, message=self._message,
                            pending=self.outbox.pending(), config=self.config)

    # -- helpers ------------------------------------------------------------------------

    def _now(self) -> dt.datetime:
        return _utcnow(self._clock)

    def _client(self, role: str, url: str | None = None,
                timeout: tuple[float, float] | None = None) -> Client:
        """One client (one connection pool) per job, so jobs never share a session."""
        with self._lock:
            client = self._clients.get(role)
            if client is None:
                sess = self._session
                target = url or (sess.server_url if sess else None)
                if target is None:
                    raise errors.ConfigError("Not logged in to any license server.")
                kwargs: dict[str, Any] = {} if timeout is None else {"timeout": timeout}
                from seatkeeper.service.client import Client

                client = Client(target, token=self._token, ca_bundle=self.config.ca_bundle,
                                public_keys=sess.public_keys if sess else {}, **kwargs)
                client.on_keys = self._keys_learned
                self._clients[role] = client
            return client
