"""Applications' sessions on the agent (docs/local-api.md): open, close, and the `app` seat mode.

A session is an application saying "I am using the seat". In `login` mode sessions are
only recorded. In `app` mode the first one takes a seat (its `open_session` answers once
the server did, within `OPEN_ANSWER_S`) and the seat is released `app_idle_release_s`
after the last one closed; the state itself is decided by `core.state` from the
session count and the idle deadline, like every other fact. An application's `released`
date later than the one the held lease was checked against is checked with the server
at once: a `SUPPORT_EXPIRED` answer refuses that session and changes nothing else.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from seatkeeper.config import Config
from seatkeeper.core import errors
from seatkeeper.core.protocol import LeaseEnvelope
from seatkeeper.core.state import Facts, Status, app_idle_release_due, lease_held
from seatkeeper.core.wire import format_time
from seatkeeper.service import session as saved
from seatkeeper.service.framing import ApiError

if TYPE_CHECKING:
    from seatkeeper.service.client import Client  # requests: imported when first used

log = logging.getLogger("seatkeeper.agent")
# open_session answers within 10 s (the contract), the release date's check and the wait
# for a seat together; this leaves a margin for the channel.
OPEN_ANSWER_S = 9.0
# A release date checked at once: waiting for a seat round, then the server's answer.
CHECK_WAIT_S = 2.0
CHECK_TIMEOUT_S = (2.0, 5.0)


@dataclass(frozen=True, kw_only=True)
class AppSession:
    """One application's open session, as the seat object lists it."""

    session_id: str
    app: str
    version: str
    released: dt.date | None
    pid: int | None
    opened_at: dt.datetime

    def to_json(self) -> dict[str, Any]:
        return {"session_id": self.session_id, "app": self.app, "version": self.version,
                "pid": self.pid, "opened_at": format_time(self.opened_at)}


class AppSeat:
    """The session half of the Agent; `Agent` provides the state and methods it uses."""

    config: Config
    _lock: threading.RLock
    _seat_lock: threading.Lock
    _facts: Facts
    _envelope: LeaseEnvelope | None
    _session: saved.Session | None
    _token: str | None
    _sessions: dict[str, AppSession]
    _listeners: list[Callable[[], None]]
    _status: Callable[[], Status]
    _checked_release: dt.date | None
    _license_id: str | None
    _seat_rounds: threading.Condition
    _seat_rounds_started: int
    _seat_rounds_done: int
    _kick: Callable[..., None]
    _client: Callable[..., Client]
    _took: Callable[..., None]
    _apply: Callable[[Facts], None]
    _queue_release: Callable[[str], None]
    _queue_release_of: Callable[[LeaseEnvelope, str], None]
    _now: Callable[[], dt.datetime]

    def open_session(self, *, app: str, version: str, released: dt.date | None,
                     pid: int | None) -> str:
        """Record an application's session (taking a seat in `app` mode); its id."""
        deadline = time.monotonic() + OPEN_ANSWER_S
        with self._lock:
            if self._token is None:
                raise ApiError("NOT_SIGNED_IN", "This device is not logged in to a license "
                               "server: run `seatkeeper login`, or use the tray's Log in….")
            # Only a held lease was checked against a date; with none, the seat request
            # that takes one carries the latest date anyway.
            check = (released is not None and self._envelope is not None
                     and lease_held(self._facts, self._now())
                     and (self._checked_release is None or released > self._checked_release))
        if check and released is not None:
            self._check_release_date(released)
        session = AppSession(session_id=secrets.token_urlsafe(12), app=app, version=version,
                             released=released, pid=pid, opened_at=self._now())
        app_mode = self.config.seat_mode == "app"
        with self._lock:
            self._sessions[session.session_id] = session
            with self._seat_rounds:
                wait_for = self._seat_rounds_started + 1  # the next round sees this session
            held = lease_held(self._facts, self._now())
            log.info("session %s opened by %s %s (pid %s)", session.session_id, app, version,
                     pid)
            self._apply(replace(self._facts, app_sessions=len(self._sessions),
                                app_idle_until=None,
                                seat_released=self._facts.seat_released and not app_mode))
        if app_mode and not held:
            self._kick("seat")
            with self._seat_rounds:
                self._seat_rounds.wait_for(lambda: self._seat_rounds_done >= wait_for,
                                           timeout=max(0.0, deadline - time.monotonic()))
        return session.session_id

    def close_session(self, session_id: str) -> bool:
        """End one session; False when there is no such session. The last one closing in
        `app` mode starts the idle wait before the seat is released."""
        with self._lock:
            session = self._sessions.pop(session_id, None)
            if session is None:
                return False
            log.info("session %s of %s closed", session_id, session.app)
            idle_until = None
            if not self._sessions:
                idle_until = self._now() + dt.timedelta(seconds=self.config.app_idle_release_s)
            self._apply(replace(self._facts, app_sessions=len(self._sessions),
                                app_idle_until=idle_until))
        if idle_until is not None and self.config.seat_mode == "app":
            self._kick("idle", self.config.app_idle_release_s)
        return True

    def on_change(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call `callback()` whenever a fact may have changed (not only the state)."""
        with self._lock:
            self._listeners.append(callback)
        return lambda: self._listeners.remove(callback)

    def seat_facts(self) -> tuple[Status, LeaseEnvelope | None, list[dict[str, Any]],
                                  str | None]:
        """The status, the latest lease envelope, the open sessions and this device's id
        (while logged in), read together."""
        with self._lock:
            device_id = self._session.device_id if self._session and self._token else None
            return self._status(), self._envelope, self.sessions(), device_id

    def sessions(self) -> list[dict[str, Any]]:
        with self._lock:
            return [s.to_json() for s in self._sessions.values()]

    def _release_date(self) -> dt.date:
        """The latest `released` of the open sessions, else the `app_release_date` setting."""
        with self._lock:
            dates = [s.released for s in self._sessions.values() if s.released is not None]
        return max(dates) if dates else self.config.app_release_date

    def _start_idle_wait(self) -> None:
        """At start in `app` mode, a seat still held waits `app_idle_release_s` for a session."""
        if self.config.seat_mode == "app":
            with self._lock:
                until = self._now() + dt.timedelta(seconds=self.config.app_idle_release_s)
                self._apply(replace(self._facts, app_idle_until=until))
            self._kick("idle", self.config.app_idle_release_s)

    def _idle_job(self) -> None:
        """`app` mode: release the seat once the idle wait after the last session is over."""
        with self._lock:
            if not app_idle_release_due(self._facts, self._now()):
                return
            log.info("no application has used the seat for %g s: releasing it",
                     self.config.app_idle_release_s)
            self._queue_release("user")
        self._kick("outbox")

    def _expiry_job(self) -> None:
        """Offline, nothing else happens when the held seat runs out: decide again then. A
        borrowed seat's end also ends its exemption from the `app` mode's idle release."""
        with self._lock:
            self._apply(self._facts)
        self._idle_job()

    def _seat_round_started(self) -> None:
        with self._seat_rounds:
            self._seat_rounds_started += 1

    def _seat_round_done(self) -> None:
        with self._seat_rounds:
            self._seat_rounds_done += 1
            self._seat_rounds.notify_all()

    def _check_release_date(self, released: dt.date) -> None:
        """Ask the server now whether the held seat covers an application released on
        `released`; SUPPORT_EXPIRED refuses the session, leaving the state as it was."""
        if not self._seat_lock.acquire(timeout=CHECK_WAIT_S):
            return  # a seat round is stuck on the network; the next acquire checks it
        with self._lock:
            held = self._envelope
        try:
            # A client of its own with short timeouts: open_session answers within 10 s.
            client = self._client("session", timeout=CHECK_TIMEOUT_S)
            envelope = client.acquire(
                app_name=self.config.app_name, app_version=self.config.app_version,
                app_release_date=max(released, self._release_date()),
                license_id=self._license_id)
            if self._session is not None:
                saved.check_ours(envelope, self._session)  # as every seat request's answer
        except errors.SupportExpired:
            log.info("a session for a version released %s was refused: Support & Upgrade "
                     "ended before it", released)
            raise
        except errors.SeatkeeperError as exc:
            log.info("could not check release date %s with the server now (%s); the next "
                     "seat request carries it", released, exc)
            return
        else:
            with self._lock:
                if held is not None and envelope.lease.lease_id != held.lease.lease_id:
                    # The date is covered by another of the account's licenses: the server
                    # gave a second seat. The one it replaces goes back, never kept twice.
                    log.info("a version released %s moved the seat to license %s; giving "
                             "back lease %s", released, envelope.lease.license.name,
                             held.lease.lease_id)
                    self._queue_release_of(held, "user")
                self._checked_release = released
                self._took(envelope, client)
        finally:
            self._seat_lock.release()
        if envelope.lease.release_token is not None:
            self._kick("seat")  # a new lease: renewed at once, for an envelope without it
            self._kick("outbox")
