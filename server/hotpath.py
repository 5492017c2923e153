"""The heartbeat's own door: the request every agent sends skips the framework's routing,
dependency injection and response validation.

The seat rules are the same function the route calls (`seats.heartbeat`), as are the
answers: the same JSON, the same errors (`app.error_response`); a path this door does not
recognise goes on to the router. The route stays in the table for the OpenAPI document.
Measured in docs/benchmarks.md: a heartbeat's server CPU over HTTP went from 1.5-3.2 ms to 1.3-1.6.
"""

from __future__ import annotations

import json
import re
from typing import Any

from seatkeeper_server import errors
from seatkeeper_server.context import Context
from seatkeeper_server.services import seats
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeout
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

PATH = "/v1/seats/{lease_id}/heartbeat"
_MATCH = re.compile(r"/v1/seats/([A-Za-z0-9_-]{1,64})/heartbeat")


def bearer(scope: Scope) -> str | None:
    """The Bearer credential of the Authorization header, as FastAPI's HTTPBearer reads it."""
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, credential = value.decode("latin-1").partition(" ")
            return credential if scheme.lower() == "bearer" and credential else None
    return None


class HeartbeatDoor:
    """ASGI middleware answering `POST /v1/seats/{lease_id}/heartbeat` itself."""

    def __init__(self, app: ASGIApp, *, context: Context, route: Any) -> None:
        self.app, self.context, self.route = app, context, route

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        found = (_MATCH.fullmatch(scope["path"])
                 if scope["type"] == "http" and scope["method"] == "POST" else None)
        if found is None:
            await self.app(scope, receive, send)
            return
        from seatkeeper_server.app import database_down, error_response, pool_exhausted

        scope["route"] = self.route  # for the metrics' and the access log's route label
        c = self.context
        try:
            envelope = await run_in_threadpool(seats.heartbeat, c.connection, bearer(scope),
                                               found.group(1), c.now(), c.terms, c.signer)
        except errors.ApiError as exc:
            response: Response = error_response(exc)
        except OperationalError as exc:
            response = database_down(exc)
        except SQLAlchemyTimeout:
            response = pool_exhausted()
        else:
            response = Response(json.dumps(envelope, ensure_ascii=False, allow_nan=False,
                                           separators=(",", ":")).encode(),
                                media_type="application/json")
        await response(scope, receive, send)
