"""An application's session with the agent: open it, hear about the seat, close it.

`SeatSession` opens a session on one connection and watches the seat on a second one,
on a background thread. What happens to the seat reaches the application as
`SeatEvent`s, through `on_event` (called on that thread; an exception in it is logged,
never raised into the application) or the `events()` iterator. If the agent goes away
(a restart, an upgrade), the session reconnects by itself and opens exactly one new
session; the application hears `agent_lost` and then `reconnected`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from seatkeeper.sdk.channel import AgentUnavailable, Channel, LocalApiError, find_agent
from seatkeeper.sdk.envelope import EnvelopeExpired, EnvelopeInvalid, check_lease
from seatkeeper.sdk.keys import TrustedKeys

log = logging.getLogger("seatkeeper.sdk")
LOST, REGAINED, OFFLINE, ONLINE, EXPIRING = "lost", "regained", "offline", "online", "expiring"
AGENT_LOST, RECONNECTED = "agent_lost", "reconnected"
RETRY_S = (0.2, 0.5, 1.0, 2.0)
EVENT_QUEUE = 256  # events kept for `events()`; past that the oldest go


@dataclass(frozen=True)
class SeatEvent:
    """Something the application may act on: `kind` (LOST, REGAINED, …), the seat object."""

    kind: str
    seat: dict[str, Any] | None
    message: str


class SeatSession:
    """`with SeatSession("MyApp", "2.1", released="2026-03-01") as seat: …` (see module doc).

    `public_key`: the license server's Ed25519 key (base64, from its /v1/keys) to verify the
    seat's envelope with; then `holding` is true only for a seat the server signed, with
    that key or a key it endorsed when the server rotated its key (`trusted_keys`).
    The envelope's lease must also be the seat's, name this device and not have ended by
    this computer's clock, less `clock_slack_s` (the two clocks may differ that much).
    `warn_before_s`: while offline, EXPIRING comes this long before the held seat ends,
    once for each time the seat approaches its end.
    With `on_event` given, `events()` yields what comes from its first call on; without,
    what came since `open`. At most EVENT_QUEUE wait to be read; past that the oldest go.
    """

    def __init__(self, app: str, version: str, *, released: str | None = None,
                 public_key: str | None = None, address: str | None = None,
                 on_event: Callable[[SeatEvent], None] | None = None,
                 warn_before_s: float = 600.0, pid: int | None = None,
                 clock_slack_s: float = 60.0) -> None:
        self.app, self.version, self.released = app, version, released
        self.public_key, self.on_event, self.warn_before_s = public_key, on_event, warn_before_s
        self._trusted = TrustedKeys(public_key) if public_key is not None else None
        self.clock_slack_s = clock_slack_s
        self.address = address or find_agent()
        self.pid = os.getpid() if pid is None else pid
        self.session_id: str | None = None
        self._seat: dict[str, Any] | None = None
        self._connected = False
        self._closed = threading.Event()
        self._requests: Channel | None = None
        self._watching: Channel | None = None
        self._events: queue.Queue[SeatEvent | None] = queue.Queue(EVENT_QUEUE)
        self._iterating = on_event is None  # queue events only for someone who reads them
        self._held = False  # what the application was last told: holding or not
        self._doubt: str | None = None  # why a seat the agent holds is not trusted
        self._timer: threading.Timer | None = None
        self._timer_for: str | None = None  # the seat end the pending EXPIRING is for
        self._warned_for: str | None = None  # the seat end EXPIRING was told for
        self._thread: threading.Thread | None = None
        self._state_lock = threading.Lock()

    # -- what the application reads --------------------------------------------------------

    @property
    def seat(self) -> dict[str, Any] | None:
        """The latest seat object (docs/local-api.md), or None before `open`."""
        return self._seat

    @property
    def holding(self) -> bool:
        """The agent holds the seat (and, with a pinned key, its envelope verifies).

        The agent renews the envelope unannounced; once the one kept here has ended, the
        seat object is asked for again (a local request) before saying no.
        """
        if not self._connected:
            return False
        try:
            self._check(self._seat)
        except EnvelopeExpired:
            try:
                return self._connected and self._holds(self.refresh())
            except (AgentUnavailable, LocalApiError):
                return False
        except EnvelopeInvalid:
            return False
        return True

    def refresh(self) -> dict[str, Any]:
        """Ask the agent for the seat object now; it becomes `seat`, and what changed is told
        as events (on this thread, like the watch thread's)."""
        channel = self._requests
        if channel is None:
            raise AgentUnavailable("The session is not connected to the agent.")
        seat: dict[str, Any] = channel.request("seat")
        self._seen(seat)
        return seat

    def events(self, timeout: float | None = None) -> Iterator[SeatEvent]:
        """The events as they come, until `close` (or `timeout` seconds with none)."""
        self._iterating = True
        while True:
            try:
                event = self._events.get(timeout=timeout)
            except queue.Empty:
                return
            if event is None:
                return
            yield event

    # -- opening and closing ----------------------------------------------------------------

    def open(self) -> SeatSession:
        """Open the session (AgentUnavailable, or LocalApiError e.g. NOT_SIGNED_IN)."""
        self._connect()
        self._held = self._holds(self._seat)
        self._thread = threading.Thread(target=self._watch_loop, daemon=True,
                                        name="seatkeeper-watch")
        self._thread.start()
        return self

    def close(self) -> None:
        """Close the session (the agent may then release the seat, in its `app` mode)."""
        if self._closed.is_set():
            return
        self._closed.set()
        self._cancel_timer()
        requests, watching = self._requests, self._watching
        if requests is not None and self.session_id is not None:
            with contextlib.suppress(AgentUnavailable, LocalApiError):
                requests.request("close_session", {"session_id": self.session_id})
        for channel in (requests, watching):
            if channel is not None:
                channel.close()
        self._queue(None)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def __enter__(self) -> SeatSession:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the background thread --------------------------------------------------------------

    def _connect(self) -> None:
        """One request connection with one new session, and a watch connection."""
        requests = Channel(self.address)
        try:
            answer = requests.request("open_session", {
                "app": self.app, "version": self.version, "released": self.released,
                "pid": self.pid})
            watching = Channel(self.address)
            watching.watch()
        except BaseException:
            requests.close()
            raise
        self._requests, self._watching = requests, watching
        self.session_id = answer["session_id"]
        self._seat, self._connected = answer["seat"], True
        self._schedule_expiry_warning(answer["seat"])

    def _watch_loop(self) -> None:
        while not self._closed.is_set():
            watching = self._watching
            try:
                if watching is None:
                    raise AgentUnavailable("not connected")
                event = watching.next_event()
            except AgentUnavailable as exc:
                if self._closed.is_set():
                    return
                self._lost_agent(str(exc))
                continue
            except LocalApiError as exc:
                log.warning("the agent refused to stream the seat: %s", exc)
                self._lost_agent(str(exc))
                continue
            self._seen(event.get("seat"))

    def _seen(self, seat: Any) -> None:
        """Compare a new seat object with the last one; tell the application what changed."""
        if not isinstance(seat, dict):
            return
        with self._state_lock:
            before, self._seat = self._seat, seat
            # Against what was told, not the old seat object: its envelope may have ended
            # since, renewed by the agent unannounced.
            was, now = self._held, self._holds(seat)
            self._held = now
        if was and not now:
            self._tell(LOST, seat, seat.get("message") or f"The seat is gone ({seat['state']}).")
        elif now and not was:
            self._tell(REGAINED, seat, "The seat is held again.")
        state_before = (before or {}).get("state")
        if seat.get("state") == "offline" and state_before != "offline":
            self._tell(OFFLINE, seat, seat.get("message") or "Offline; the seat is still held.")
        elif seat.get("state") == "active" and state_before == "offline":
            self._tell(ONLINE, seat, "The license server answers again.")
        self._schedule_expiry_warning(seat)

    def _lost_agent(self, why: str) -> None:
        """The agent went away: say so, then reconnect with exactly one new session."""
        self._connected = False
        self._cancel_timer()
        for channel in (self._requests, self._watching):
            if channel is not None:
                channel.close()
        self._requests = self._watching = None
        self._tell(AGENT_LOST, self._seat, f"The Seatkeeper agent is not answering ({why}); "
                   "reconnecting.")
        attempt = 0
        while not self._closed.wait(RETRY_S[min(attempt, len(RETRY_S) - 1)]):
            attempt += 1
            before = self._seat
            try:
                self._connect()
            except (AgentUnavailable, LocalApiError) as exc:
                log.debug("reconnecting to the agent: %s", exc)
                continue
            if self._closed.is_set():  # closed meanwhile: give the new session back too
                self._closed.clear()
                self.close()
                return
            self._tell(RECONNECTED, self._seat, "Connected to the agent again; a new session "
                       "is open.")
            with self._state_lock:
                seat, self._seat = self._seat, before
            self._seen(seat)
            return

    def _check(self, seat: dict[str, Any] | None) -> None:
        """Nothing when `seat` is held (with a pinned key: its envelope proves it), else
        EnvelopeInvalid (EnvelopeExpired: the envelope kept has ended) saying why not."""
        if not seat or not seat.get("holding"):
            raise EnvelopeInvalid("The agent holds no seat.")
        if self._trusted is None:
            return
        lease = self._trusted.verify(seat.get("envelope"), self._key_listing)
        check_lease(lease, seat, dt.datetime.now(dt.UTC), self.clock_slack_s)

    @property
    def trusted_keys(self) -> dict[str, str]:
        """The server keys trusted so far: the pinned one and those it endorses (after a
        rotation of the server's key), {kid: base64}; empty without `public_key`."""
        return self._trusted.keys if self._trusted is not None else {}

    def _key_listing(self) -> Any:
        """The agent's copy of the server's key listing, on a connection of its own (the
        watch thread and the application's may both be checking an envelope)."""
        channel = Channel(self.address)
        try:
            return channel.request("keys")
        finally:
            channel.close()

    def _holds(self, seat: dict[str, Any] | None) -> bool:
        try:
            self._check(seat)
        except EnvelopeInvalid as exc:
            doubt = str(exc) if seat and seat.get("holding") else None
            if doubt and doubt != self._doubt:  # said once, not at every look
                log.warning("the seat's envelope does not prove it: %s", exc)
            self._doubt = doubt
            return False
        self._doubt = None
        return True

    def _schedule_expiry_warning(self, seat: dict[str, Any]) -> None:
        """While offline, EXPIRING `warn_before_s` before the held seat ends: once for that
        end, however many changes come meanwhile."""
        until = seat.get("holding_until")
        if seat.get("state") != "offline" or not until:
            self._cancel_timer()
            self._warned_for = None  # back online: the next approach is warned again
            return
        if until in (self._timer_for, self._warned_for):
            return
        self._cancel_timer()
        ends = dt.datetime.fromisoformat(str(until).replace("Z", "+00:00"))
        left = (ends - dt.datetime.now(dt.UTC)).total_seconds()
        message = f"Offline; the seat ends at {until} unless the license server answers."

        def warn() -> None:
            with self._state_lock:
                if self._timer_for != until:
                    return  # cancelled as it fired
                self._timer_for, self._warned_for = None, until
            self._tell(EXPIRING, seat, message)

        timer = threading.Timer(max(0.0, left - self.warn_before_s), warn)
        timer.daemon = True
        self._timer, self._timer_for = timer, until
        timer.start()

    def _cancel_timer(self) -> None:
        with self._state_lock:
            timer, self._timer, self._timer_for = self._timer, None, None
        if timer is not None:
            timer.cancel()

    def _queue(self, event: SeatEvent | None) -> None:
        """Keep `event` for `events()`; a full queue loses its oldest, never blocks."""
        while True:
            try:
                self._events.put_nowait(event)
                return
            except queue.Full:
                with contextlib.suppress(queue.Empty):
                    self._events.get_nowait()

    def _tell(self, kind: str, seat: dict[str, Any] | None, message: str) -> None:
        event = SeatEvent(kind, seat, message)
        if self._iterating:
            self._queue(event)
        if self.on_event is not None:
            try:
                self.on_event(event)
            except Exception:
                log.exception("the application's on_event callback failed on %s", kind)
