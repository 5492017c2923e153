"""What the Agent asks the server on the caller's thread: outbox, devices, account, borrow.

Borrowing the seat for offline work, and returning it early (`borrow`/`return`):

A borrowed seat is a lease the server signed with a far `expires_at` and `borrowed_until`;
it is kept on disk like every lease and verified at start, so it survives restarts and
reboots offline. While online the seat job goes on heartbeating it (a heartbeat never
shortens it), so a revocation reaches the device at its next contact. `return` gives it
back through the outbox, queued durably like a release, then takes a normal seat again.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from seatkeeper.core import errors
from seatkeeper.core.protocol import LeaseEnvelope
from seatkeeper.core.state import Facts, Status, borrowed_until, lease_held, server_now
from seatkeeper.service import session as saved

if TYPE_CHECKING:
    from seatkeeper.service.client import Client  # requests: imported when first used

log = logging.getLogger("seatkeeper.agent")
DAY_S = 86400
MAX_DAYS = 366
SEAT_WAIT_S = 20.0  # for a heartbeat in flight (its read timeout) before borrowing


class Borrowing:
    """`borrow`, `return_seat` and the account's calls; `Agent` provides their state."""

    _lock: threading.RLock
    _seat_lock: threading.Lock
    _facts: Facts
    _session: saved.Session | None
    _envelope: LeaseEnvelope | None
    _token: str | None
    _message: str | None
    _release_reason: str
    _return_pending: bool
    _kick: Callable[..., None]
    _client: Callable[..., Client]
    _took: Callable[..., None]
    _queue_release: Callable[[str], None]
    _apply: Callable[[Facts], None]
    _now: Callable[[], dt.datetime]
    status: Callable[[], Status]
    _outbox_job: Callable[[], None]

    def deliver_now(self) -> Status:
        """Try the outbox once, on this thread (the CLI's way when no daemon runs)."""
        self._outbox_job()
        return self.status()

    def devices(self) -> list[dict[str, Any]]:
        return [d.to_json() for d in self._online("devices").devices()]

    def deactivate(self, device_id: str) -> dict[str, Any]:
        return self._online("devices").deactivate_device(device_id).to_json()

    def set_remote_deactivation(self, enabled: bool) -> bool:
        return self._online("devices").set_remote_deactivation(enabled)

    def account(self) -> dict[str, Any]:
        return self._online("devices").account().to_json()

    def _online(self, role: str) -> Client:
        with self._lock:
            if self._token is None:
                raise errors.Unauthenticated("Not logged in: run `seatkeeper login` first.")
            return self._client(role)

    def borrowed_until(self) -> dt.datetime | None:
        """When the seat borrowed for offline work ends; None while it is not borrowed."""
        with self._lock:
            return borrowed_until(self._facts, self._now())

    def borrow(self, days: int) -> Status:
        """Keep the held seat for `days` days with no contact (capped by the license).

        Needs the server: `Offline` when it cannot be reached, `NotHolding` with no seat,
        `BorrowNotAllowed` when the license allows no borrowing.
        """
        if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
            raise errors.InvalidArgument(
                f"Borrow for 1 to {MAX_DAYS} whole days, not {days!r}.")
        with self._lock:
            if self._token is None:
                raise errors.NotSignedIn()
            envelope, facts, now = self._envelope, self._facts, self._now()
            if envelope is None or not lease_held(facts, now):
                raise errors.NotHolding("This device holds no seat now, so there is none to "
                                        "borrow. Wait until the seat is held, then borrow.")
            lic = envelope.lease.license
            if lic.max_borrow_s <= 0:
                raise errors.BorrowNotAllowed(
                    f"The license {lic.name} does not allow borrowing a seat for offline use.")
            until = server_now(facts, now) + dt.timedelta(seconds=days * DAY_S)
            client = self._client("borrow")
        # No heartbeat in flight meanwhile: one answered before the borrow but taken in after
        # it would put back the unborrowed lease, which offline would run out in minutes.
        if not self._seat_lock.acquire(timeout=SEAT_WAIT_S):
            raise errors.Offline("The license server is slow to answer; try again shortly.")
        try:
            fresh = client.borrow(envelope.lease.lease_id, until)
            if self._session is not None:
                saved.check_ours(fresh, self._session)
            self._took(fresh, client)
        except errors.NetworkError as exc:
            raise errors.Offline(f"The seat cannot be borrowed while the license server "
                                 f"cannot be reached ({exc.message})") from None
        except errors.Refusal:
            self._kick("seat")  # a lease ended on the server: the seat job finds out why
            raise
        finally:
            self._seat_lock.release()
        log.info("seat borrowed for offline use until %s (asked for %d day(s))",
                 fresh.lease.borrowed_until, days)
        self._kick("seat")  # the next heartbeat is timed from this contact
        return self.status()

    def return_seat(self) -> Status:
        """End the borrowed seat early: its release is queued (durably) and delivered when the
        server answers; then a normal seat is asked for again."""
        with self._lock:
            if self.borrowed_until() is None:
                raise errors.NotBorrowed("No seat is borrowed on this device, so there is "
                                         "nothing to return.")
            # Like "Release seat now" until the return is delivered: no seat job meanwhile,
            # so the server never hands the borrowed lease back before it is released.
            self._release_reason = "user"
            self._return_pending = True
            self._apply(replace(self._facts, seat_released=True, refusal=None))
            self._queue_release("user")
            self._message = ("The borrowed seat is being returned; a seat is asked for again "
                             "once the license server has it back.")
            log.info("borrowed seat returned: its release is queued")
        self._kick("outbox")
        return self.status()

    def _returned(self) -> None:
        """The outbox delivered what it held: a returned seat is back, so ask for a new one."""
        with self._lock:
            if not self._return_pending:
                return
            self._return_pending = False
            log.info("the returned seat is back on the server; asking for a seat again")
            self._message = None
            self._apply(replace(self._facts, seat_released=False, discovery_chosen=False))
        self._kick("seat")
