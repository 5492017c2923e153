"""The heartbeat's own door: the request every agent sends skips the framework's routing,
dependency injection and response validation, and heartbeats arriving together renew
together (a group commit).

The seat rules are the same function the route calls (`seats.heartbeats`), as are the
answers: the same JSON, the same errors (`app.error_response`); a path this door does not
recognise goes on to the router. The route stays in the table for the OpenAPI document.

While one batch is at the database, the heartbeats that arrive wait for the next: one
thread hop and one commit (one WAL flush, one fsync on SQLite) for all of them, so the
busier the server, the larger the batches and the cheaper each heartbeat. An idle server
sends each heartbeat on at once: a batch of one is the old path. Measured in
docs/benchmarks.md.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import re
import time
from typing import Any

from seatkeeper_server import errors, metrics, shedding
from seatkeeper_server.context import Context
from seatkeeper_server.services import seats
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeout
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

PATH = "/v1/seats/{lease_id}/heartbeat"
_MATCH = re.compile(r"/v1/seats/([A-Za-z0-9_-]{1,64})/heartbeat")
# The most heartbeats one transaction renews: a batch holds its leases' row locks until
# it commits, so a release or a seat request waits for at most this many renewals.
BATCH_LIMIT = 64


def bearer(scope: Scope) -> str | None:
    """The Bearer credential of the Authorization header, as FastAPI's HTTPBearer reads it."""
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, credential = value.decode("latin-1").partition(" ")
            return credential if scheme.lower() == "bearer" and credential else None
    return None


class Batches:
    """Heartbeats waiting for the database, sent on one batch at a time per process: on
    PostgreSQL too, where two or four at once made smaller batches and fewer heartbeats a
    second (docs/benchmarks.md)."""

    def __init__(self, context: Context, limit: int = BATCH_LIMIT) -> None:
        self.context, self.limit = context, limit
        self.waiting: list[tuple[str | None, str, shedding.Admission | None,
                                 asyncio.Future[Any]]] = []
        self.sender: asyncio.Task[None] | None = None

    async def heartbeat(self, token: str | None, lease_id: str) -> Any:
        """The heartbeat's answer: its signed lease, or the exception it earns (returned)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        if self.sender is not None and self.sender.get_loop() is not loop:
            self.sender, self.waiting = None, []  # an event loop that has ended (tests)
        self.waiting.append((token, lease_id, shedding.ADMISSION.get(), future))
        if self.sender is None or self.sender.done():
            # A context of its own: the batches are no one request's.
            self.sender = loop.create_task(self._send(), context=contextvars.Context())
        return await future

    async def _send(self) -> None:
        while self.waiting:
            batch, self.waiting = self.waiting[:self.limit], self.waiting[self.limit:]
            metrics.HEARTBEAT_BATCH.observe(len(batch))
            try:
                answers = await run_in_threadpool(self._renew, batch)
            except Exception as exc:  # the database down, say: each heartbeat hears it
                answers = [exc] * len(batch)
            for (*_, future), answer in zip(batch, answers, strict=True):
                if not future.done():  # its client may have gone
                    future.set_result(answer)

    def _renew(self, batch: list[tuple[str | None, str, shedding.Admission | None,
                                       asyncio.Future[Any]]]) -> list[Any]:
        """In a worker thread: the batch's answers, in its order. A heartbeat that waited
        past its deadline (--max-queue-wait) is refused without going to the database;
        the batch waits for its turn as long as its most patient member may."""
        answers: list[Any] = [None] * len(batch)
        going: list[int] = []
        deadlines: list[float] = []
        moment = time.monotonic()
        for i, (_, _, admission, _) in enumerate(batch):
            deadline = admission.deadline if admission is not None else None
            if deadline is not None and deadline <= moment:
                answers[i] = shedding.unavailable(
                    "requests are waiting too long for the database")
                continue
            going.append(i)
            if deadline is not None:
                deadlines.append(deadline)
        if not going:
            return answers
        shedding.ADMISSION.set(shedding.Admission(
            max(deadlines) if len(deadlines) == len(going) else None))
        c = self.context
        renewed = seats.heartbeats(c.connection, [batch[i][:2] for i in going], c.now(),
                                   c.terms, c.signer)
        for i, answer in zip(going, renewed, strict=True):
            answers[i] = answer
        return answers


class HeartbeatDoor:
    """ASGI middleware answering `POST /v1/seats/{lease_id}/heartbeat` itself."""

    def __init__(self, app: ASGIApp, *, context: Context, route: Any) -> None:
        self.app, self.context, self.route = app, context, route
        self.batches = Batches(context)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        found = (_MATCH.fullmatch(scope["path"])
                 if scope["type"] == "http" and scope["method"] == "POST" else None)
        if found is None:
            await self.app(scope, receive, send)
            return
        from seatkeeper_server.app import database_down, error_response, pool_exhausted

        scope["route"] = self.route  # for the metrics' and the access log's route label
        answer = await self.batches.heartbeat(bearer(scope), found.group(1))
        if isinstance(answer, errors.ApiError):
            response: Response = error_response(answer)
        elif isinstance(answer, OperationalError):
            response = database_down(answer)
        elif isinstance(answer, SQLAlchemyTimeout):
            response = pool_exhausted()
        elif isinstance(answer, BaseException):
            raise answer
        else:
            response = Response(json.dumps(answer, ensure_ascii=False, allow_nan=False,
                                           separators=(",", ":")).encode(),
                                media_type="application/json")
        await response(scope, receive, send)
