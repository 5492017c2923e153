"""The control channel's framing, the same over every transport: JSON lines, request and answer.

One JSON object per line. A request is `{"op": "status", "args": {…}}`; the answer is
`{"ok": true, "result": …}` or `{"ok": false, "error": {"code", "message"}}`. The
`watch` op streams one answer per status change until the client hangs up.
A transport (control_unix, control_pipe) only moves bytes: it hands `serve` a `Stream`
per client, and the client side a `Stream` per call.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from seatkeeper.core.errors import SeatkeeperError

log = logging.getLogger(__name__)
MAX_LINE = 1 << 20

Handler = Callable[[str, dict[str, Any]], Any]
Watcher = Callable[[], Iterator[Any]]


class AgentNotRunning(RuntimeError):
    """No daemon answers on the control channel."""


class ControlError(RuntimeError):
    """The daemon refused the request; `code` says why (as the error tree names it)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


class Stream(Protocol):
    """One connection's bytes; a peer that is gone raises OSError (BrokenPipeError, …)."""

    def readline(self, limit: int) -> bytes:
        """The next line with its b"\\n", at most `limit` bytes; b"" once the peer hung up."""
        ...

    def write(self, data: bytes) -> None:
        """Send all of `data`."""
        ...


def serve(stream: Stream, handle: Handler, watch: Watcher) -> None:
    """Answer one client's request on `stream` (or stream `watch` until it hangs up)."""
    try:
        line = stream.readline(MAX_LINE)
    except OSError:
        return  # the client hung up, or the channel is closing
    if not line:
        return  # connected and left without a word (a probe)
    try:
        request = json.loads(line)
        op, args = str(request["op"]), dict(request.get("args") or {})
    except (ValueError, KeyError, TypeError):
        with contextlib.suppress(OSError):
            _send(stream, {"ok": False, "error": {"code": "BAD_REQUEST",
                                                  "message": "not a control request"}})
        return
    try:
        if op == "watch":
            for item in watch():
                _send(stream, {"ok": True, "result": item})
            return
        _send(stream, {"ok": True, "result": handle(op, args)})
    except OSError:
        return  # the client hung up (broken pipe, reset, or the transport gave up on it)
    except Exception as exc:
        code = getattr(exc, "code", None) or exc.__class__.__name__
        # Our errors read as message plus what to do ("… set ca_bundle"); keep both.
        message = (str(exc) if isinstance(exc, SeatkeeperError)
                   else getattr(exc, "message", None) or str(exc)) or code
        if not hasattr(exc, "code"):
            log.exception("control request %s failed", op)
        with contextlib.suppress(OSError):
            _send(stream, {"ok": False, "error": {"code": code, "message": message}})


def _send(stream: Stream, message: dict[str, Any]) -> None:
    stream.write(json.dumps(message).encode() + b"\n")


def request(stream: Stream, op: str, args: dict[str, Any]) -> Any:
    """Send one request on `stream`; its result, or ControlError as the daemon refused it."""
    stream.write(json.dumps({"op": op, "args": args}).encode() + b"\n")
    return unwrap(stream.readline(MAX_LINE))


def follow(stream: Stream) -> Iterator[Any]:
    """Ask for `watch` on `stream`; every status the daemon streams, until it stops."""
    stream.write(b'{"op": "watch"}\n')
    while line := stream.readline(MAX_LINE):
        yield unwrap(line)


def unwrap(line: bytes) -> Any:
    """The result in one answer line; an empty line means the daemon closed the channel."""
    if not line:
        raise AgentNotRunning("the agent closed the control connection")
    answer = json.loads(line)
    if not answer.get("ok"):
        error = answer.get("error") or {}
        raise ControlError(str(error.get("code", "ERROR")), str(error.get("message", "")))
    return answer.get("result")
