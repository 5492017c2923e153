"""The local API's ops (docs/local-api.md) over the Agent: hello, seat, sessions, watch.

`LocalApi.connect` gives each client connection its own `ApiConnection`; the sessions
it opens end when it closes. Watchers get the seat object through a bounded queue
each: one seat object is built per change and handed to every watcher, and a watcher
whose queue is full (a client that does not read) is dropped, never waited for.
The CLI's own ops (status, login, logout, …) are answered on the same connections.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

from seatkeeper import __version__
from seatkeeper.core.state import SeatState
from seatkeeper.service.daemon import Agent
from seatkeeper.service.framing import ApiError

log = logging.getLogger(__name__)
OPS = ("hello", "seat", "open_session", "close_session", "watch", "borrow", "return", "keys")
HOLDING_STATES = (SeatState.ACTIVE.value, SeatState.OFFLINE.value)
# Seat-object changes a watcher is not told about on their own (every heartbeat moves them).
QUIET_KEYS = ("envelope", "holding_until")
WATCH_QUEUE = 64  # events a watcher may leave unread before it is dropped


def seat_object(agent: Agent, address: str) -> dict[str, Any]:
    """Every key of `status --json`, plus holding, holding_until, envelope, sessions, …"""
    status, envelope, sessions, device_id = agent.seat_facts()
    seat = status.to_json()
    holding = seat["state"] in HOLDING_STATES
    lease = seat["lease"] or {}
    public = envelope if envelope is not None and envelope.lease.release_token is None \
        else None
    seat.update(running=True, local_api=address, holding=holding,
                holding_until=lease.get("expires_at") if holding else None,
                envelope=public.to_json() if public is not None else None,
                sessions=sessions, seat_mode=agent.config.seat_mode, device_id=device_id)
    return seat


def _comparable(seat: dict[str, Any]) -> dict[str, Any]:
    """The seat object without what changes at every heartbeat (the lease's expiry).

    Which lease the envelope signs is kept: a new lease's first envelope carries its
    release token, so the seat shows none until the renewal made in the same round, and
    an application that pins the server's key must hear when the envelope appears.
    """
    out = {key: value for key, value in seat.items() if key not in QUIET_KEYS}
    envelope = seat.get("envelope") or {}
    out["envelope_lease"] = (envelope.get("lease") or {}).get("lease_id")
    if out.get("lease"):
        out["lease"] = {**out["lease"], "expires_at": None}
    return out


class WatchFeed:
    """One watcher's events: a bounded queue; full means the client stopped reading."""

    def __init__(self, on_close: Callable[[WatchFeed], None]) -> None:
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue(WATCH_QUEUE)
        self._on_close = on_close
        self._closed = threading.Event()

    def put(self, event: dict[str, Any]) -> None:
        try:
            self._queue.put_nowait(event)
        except queue.Full:
            log.warning("a watch client stopped reading; it is dropped")
            self.close()

    def __iter__(self) -> Iterator[dict[str, Any]]:
        while not self._closed.is_set():
            event = self._queue.get()
            if event is None or self._closed.is_set():
                return
            yield event

    def close(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        self._on_close(self)
        # Wake the sender; a full queue wakes it at its next get anyway.
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(None)


class LocalApi:
    """The ops every connection answers, and the watchers of the seat object.

    The agent calls `_changed` under its own lock, so that only sets an event; the
    publisher thread builds the seat object and hands it out. Watchers are added and
    told under one lock, so none misses a change nor hears an older one after `current`.
    """

    def __init__(self, agent: Agent, address: str,
                 controls: Callable[[str, dict[str, Any]], Any]) -> None:
        self.agent, self.address, self.controls = agent, address, controls
        self._lock = threading.RLock()  # a feed dropped while told removes itself
        self._feeds: list[WatchFeed] = []
        self._last: dict[str, Any] | None = None
        self._dirty = threading.Event()
        self._publisher: threading.Thread | None = None

    def connect(self) -> ApiConnection:
        return ApiConnection(self)

    def seat(self) -> dict[str, Any]:
        return seat_object(self.agent, self.address)

    def watch(self) -> WatchFeed:
        """A new watcher: `current` now, `changed` at every change that matters."""
        feed = WatchFeed(self._forget)
        with self._lock:
            if self._publisher is None:
                self.agent.on_change(self._dirty.set)
                self._publisher = threading.Thread(target=self._publish, daemon=True,
                                                   name="watch-publisher")
                self._publisher.start()
            seat = self.seat()
            self._last = _comparable(seat)
            feed.put({"event": "current", "seat": seat})
            self._feeds.append(feed)
        return feed

    def _forget(self, feed: WatchFeed) -> None:
        with self._lock:
            if feed in self._feeds:
                self._feeds.remove(feed)

    def _publish(self) -> None:
        while True:
            self._dirty.wait()
            self._dirty.clear()
            try:
                self._tell_watchers()
            except Exception:
                log.exception("telling the watchers of a change failed")

    def _tell_watchers(self) -> None:
        """One seat object for every watcher, if it differs from the last one sent."""
        with self._lock:
            if not self._feeds:
                return
            seat = self.seat()
            comparable = _comparable(seat)
            if comparable == self._last:
                return
            self._last = comparable
            event = {"event": "changed", "seat": seat}
            for feed in list(self._feeds):
                feed.put(event)


class ApiConnection:
    """One client connection: its ops, and the sessions it opened (ended when it closes)."""

    def __init__(self, api: LocalApi) -> None:
        self.api = api
        self.sessions: set[str] = set()

    def handle(self, op: str, args: dict[str, Any]) -> Any:
        agent = self.api.agent
        if op == "hello":
            return {"api": 1, "agent_version": __version__, "ops": list(OPS)}
        if op == "seat":
            return self.api.seat()
        if op == "open_session":
            session_id = agent.open_session(**_session_args(args))
            self.sessions.add(session_id)
            return {"session_id": session_id, "seat": self.api.seat()}
        if op == "close_session":
            closing = args.get("session_id")
            # Only the connection that opened a session may close it: another client
            # ending an application's session would take its seat away (in `app` mode).
            if not isinstance(closing, str) or closing not in self.sessions \
                    or not agent.close_session(closing):
                raise ApiError("NOT_FOUND", f"No session with the id {closing!r} is open on "
                               "this connection; it was closed already, the agent restarted "
                               "since, or another connection opened it.")
            self.sessions.discard(closing)
            return {}
        if op == "borrow":
            agent.borrow(_borrow_days(args))
            return self.api.seat()
        if op == "return":
            agent.return_seat()
            return self.api.seat()
        if op == "keys":
            return agent.server_keys()
        return self.api.controls(op, args)

    def watch(self) -> WatchFeed:
        return self.api.watch()

    def has_sessions(self) -> bool:
        return bool(self.sessions)

    def close(self) -> None:
        """The client hung up: the sessions it opened end (a crashed application's too)."""
        for session_id in list(self.sessions):
            self.api.agent.close_session(session_id)
        self.sessions.clear()


def _borrow_days(args: dict[str, Any]) -> int:
    """borrow's `days`, checked: a whole number of days, at least 1."""
    days = args.get("days")
    if set(args) - {"days"} or isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise ApiError("INVALID_REQUEST", 'borrow takes {"days": N}, a whole number of days '
                       f"from 1 (the license may allow fewer), not {args!r}.")
    return days


def _session_args(args: dict[str, Any]) -> dict[str, Any]:
    """open_session's arguments, checked; INVALID_REQUEST names the one that is wrong."""
    unknown = sorted(set(args) - {"app", "version", "released", "pid"})
    if unknown:
        raise ApiError("INVALID_REQUEST", f"open_session does not take {', '.join(unknown)}; "
                       "it takes app, version, released and pid.")
    app, version = args.get("app"), args.get("version")
    if not isinstance(app, str) or not 1 <= len(app) <= 100:
        raise ApiError("INVALID_REQUEST", '"app" should be the application\'s name, '
                       "1 to 100 characters.")
    if not isinstance(version, str) or not 1 <= len(version) <= 50:
        raise ApiError("INVALID_REQUEST", '"version" should be the application\'s version, '
                       "1 to 50 characters.")
    released, pid = args.get("released"), args.get("pid")
    date = None
    if released is not None:
        try:
            if not isinstance(released, str) or len(released) != 10:
                raise ValueError
            date = dt.date.fromisoformat(released)
        except ValueError:
            raise ApiError("INVALID_REQUEST", f'"released" should be the release date as '
                           f"YYYY-MM-DD, or null (not {released!r}).") from None
    if pid is not None and (not isinstance(pid, int) or isinstance(pid, bool) or pid < 0):
        raise ApiError("INVALID_REQUEST", '"pid" should be the process id, or null.')
    return {"app": app, "version": version, "released": date, "pid": pid}
