"""Load shedding: when saturated, answer 503 UNAVAILABLE with Retry-After at once, never a timeout.

Two bounds, per serving process:

- requests in flight: past `max_in_flight` a request is refused before anything is done for
  it (no thread, no database);
- waiting for the database: every seat request carries its deadline (arrival + `max_queue_wait`)
  in a context variable, which follows it into the worker threads; `Context.transaction`
  and `Context.connection` refuse to start a unit of work past it, and SQLite's writer lock
  is waited for only until then.

The Retry-After is drawn at random over a spread that grows with the share of requests
refused lately, so a crowd told to come back does not come back in the same second.
"""

from __future__ import annotations

import contextvars
import math
import random
import threading
import time
from dataclasses import dataclass, field

from seatkeeper_server import errors
from starlette.types import ASGIApp, Message, Receive, Scope, Send


@dataclass
class Admission:
    """When the current request must have started its database work (time.monotonic()).

    Mutable, and shared by the copies of the context each worker-thread hop makes: once the
    request's first unit of work has begun, its later ones are not refused (that would
    waste what was done).
    """

    deadline: float | None
    begun: bool = False


ADMISSION: contextvars.ContextVar[Admission | None] = contextvars.ContextVar("admission",
                                                                            default=None)
# Answered without a database, or cheap: never shed.
EXEMPT = frozenset({"/v1/health", "/v1/ready", "/v1/keys"})
SEAT_PATHS = "/v1/seats"
MAX_SPREAD_S = 120
_RNG = random.Random()


@dataclass
class Pressure:
    """Requests served and refused over the last few seconds: how far to spread retries."""

    window_s: float = 5.0
    served: int = 0
    refused: int = 0
    since: float = field(default_factory=time.monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, *, refused: bool) -> None:
        with self.lock:
            now = time.monotonic()
            if now - self.since > self.window_s:  # a new window, the last one halved in
                self.served, self.refused, self.since = self.served // 2, self.refused // 2, now
            if refused:
                self.refused += 1
            else:
                self.served += 1

    def retry_after(self) -> int:
        """Seconds to tell a refused client: 1 to a spread long enough for the excess to be
        served at the rate requests are being served now."""
        with self.lock:
            served, refused = max(1, self.served), self.refused
            elapsed = max(1.0, time.monotonic() - self.since + self.window_s / 2)
        spread = min(MAX_SPREAD_S, max(2, math.ceil(2 * refused / (served / elapsed))))
        return _RNG.randint(1, spread)


PRESSURE = Pressure()


def unavailable(why: str) -> errors.Unavailable:
    PRESSURE.count(refused=True)
    return errors.Unavailable(f"The license server is busy ({why}). Retry after the time "
                              "given in Retry-After.", headers={
                                  "Retry-After": str(PRESSURE.retry_after())})


def check_deadline() -> float | None:
    """Seconds the current request may still wait for the database (None: no limit); 503 if
    its time is up."""
    admission = ADMISSION.get()
    if admission is None or admission.deadline is None or admission.begun:
        return None
    left = admission.deadline - time.monotonic()
    if left <= 0:
        raise unavailable("requests are waiting too long for the database")
    return left


def begun() -> None:
    """The current request's first unit of work has its turn: no refusal after this."""
    admission = ADMISSION.get()
    if admission is not None:
        admission.begun = True


class Shed:
    """The ASGI middleware: counts requests in flight and gives each its deadline."""

    def __init__(self, app: ASGIApp, *, max_in_flight: int, max_queue_wait_s: float) -> None:
        self.app, self.max_in_flight, self.max_wait = app, max_in_flight, max_queue_wait_s
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in EXEMPT:
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.max_in_flight:
            from seatkeeper_server.app import error_response

            await error_response(unavailable("too many requests at once"))(scope, receive, send)
            return
        self.in_flight += 1
        # Seat requests are what a returning fleet sends; a login or an operator's request
        # is never refused for waiting (the in-flight bound still holds for them).
        timed = self.max_wait > 0 and scope["path"].startswith(SEAT_PATHS)
        token = ADMISSION.set(Admission(time.monotonic() + self.max_wait if timed else None))
        status = 500

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            ADMISSION.reset(token)
            self.in_flight -= 1
            if status != 503:  # a refusal counted itself
                PRESSURE.count(refused=False)
