"""The local API's framing (docs/local-api.md), the same over every transport: JSON lines.

A connection carries any number of requests in turn, each answered before the next is
read: `{"v": 1, "op": NAME, "args": {…}}` → `{"ok": true, "result": …}` or
`{"ok": false, "error": {"code": CODE, "message": TEXT}}`. After an error the connection
stays usable, except for a line over 1 MiB (answered, then closed). `watch` turns the
connection into a stream of results until the client hangs up or reads too slowly.
A transport (control_unix, control_pipe) only moves bytes: it hands `serve` a `Stream`
per client, and the client side a `Stream` per connection.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from seatkeeper.core import errors

log = logging.getLogger(__name__)
API_VERSION = 1
MAX_LINE = 1 << 20
# The contract's own codes; a protocol error code from the server passes through as well.
CODES = frozenset({"UNKNOWN_OP", "INVALID_REQUEST", "NOT_FOUND", "NOT_SIGNED_IN",
                   "NOT_HOLDING", "NOT_BORROWED", "OFFLINE", "BORROW_NOT_ALLOWED",
                   "INTERNAL"})


class AgentNotRunning(RuntimeError):
    """No daemon answers on the control channel."""


class ControlError(RuntimeError):
    """The daemon refused the request; `code` is one of the contract's error codes."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


class ApiError(Exception):
    """Raised by an op to answer `{"ok": false}` with this contract `code` and message."""

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

    def set_read_timeout(self, seconds: float) -> None:
        """From now on a read that waits longer than `seconds` raises OSError."""
        ...


class Feed(Protocol):
    """What `watch` streams: results until `close()` (from any thread) or the feed ends."""

    def __iter__(self) -> Iterator[Any]: ...

    def close(self) -> None: ...


class Connection(Protocol):
    """One client's state on the agent's side (its sessions end in `close`)."""

    def handle(self, op: str, args: dict[str, Any]) -> Any: ...

    def watch(self) -> Feed: ...

    def has_sessions(self) -> bool:
        """Whether closing this connection would end sessions (so its hang-up matters now)."""
        ...

    def close(self) -> None: ...


Opener = Callable[[], Connection]


class _IterFeed:
    """A feed over a plain iterator (`stateless`)."""

    def __init__(self, items: Iterator[Any]) -> None:
        self._items, self._closed = items, False

    def __iter__(self) -> Iterator[Any]:
        for item in self._items:
            if self._closed:
                return
            yield item

    def close(self) -> None:
        self._closed = True


class _Stateless:
    def __init__(self, handle: Callable[[str, dict[str, Any]], Any],
                 watch: Callable[[], Iterator[Any]]) -> None:
        self.handle, self._watch = handle, watch

    def watch(self) -> Feed:
        return _IterFeed(self._watch())

    def has_sessions(self) -> bool:
        return False

    def close(self) -> None:
        pass


def stateless(handle: Callable[[str, dict[str, Any]], Any],
              watch: Callable[[], Iterator[Any]]) -> Opener:
    """Connections that keep nothing of their own: `handle(op, args)` and `watch()` only."""
    return lambda: _Stateless(handle, watch)


def serve(stream: Stream, open_connection: Opener) -> None:
    """Answer one client's requests on `stream` in turn until it hangs up (or watches)."""
    connection = open_connection()
    try:
        while True:
            try:
                line = stream.readline(MAX_LINE + 1)
            except OSError:
                return  # the client hung up, or the channel is closing
            if not line:
                return
            if len(line) > MAX_LINE and not line.endswith(b"\n"):
                _answer_error(stream, "INVALID_REQUEST", "The request line is longer than "
                              "1 MiB; the connection is closed. Send smaller requests.")
                return
            if not line.strip():
                continue  # a blank line is no request; nothing to answer
            try:
                op, args = parse(line)
            except ApiError as exc:
                if not _answer_error(stream, exc.code, exc.message):
                    return
                continue
            if op == "watch":
                _stream_watch(stream, connection)
                return
            try:
                message = {"ok": True, "result": connection.handle(op, args)}
            except Exception as exc:
                code, text = error_of(exc, op)
                message = {"ok": False, "error": {"code": code, "message": text}}
            try:
                _send(stream, message)
            except OSError:
                return
    finally:
        connection.close()


def refuse(stream: Stream, code: str, message: str) -> None:
    """Answer a client's first request with this error, and nothing more (the transport
    closes the connection). The request is read first, so the client is sure to see the
    answer; one that sends nothing within the stream's read timeout gets it unasked."""
    with contextlib.suppress(OSError):
        stream.readline(MAX_LINE + 1)
    _answer_error(stream, code, message)


def parse(line: bytes) -> tuple[str, dict[str, Any]]:
    """`(op, args)` of one request line; ApiError INVALID_REQUEST saying what is wrong."""
    try:
        request = json.loads(line)
    except (ValueError, UnicodeDecodeError):
        raise ApiError("INVALID_REQUEST", "The request is not JSON: send one JSON object "
                       'per line, like {"v": 1, "op": "seat"}.') from None
    if not isinstance(request, dict):
        raise ApiError("INVALID_REQUEST", 'The request is not a JSON object: send one per '
                       'line, like {"v": 1, "op": "seat"}.')
    if request.get("v", API_VERSION) != API_VERSION:
        raise ApiError("INVALID_REQUEST", f"This agent speaks version {API_VERSION} of the "
                       f"local API, not {request.get('v')!r}; send \"v\": {API_VERSION}.")
    op, args = request.get("op"), request.get("args")
    if not isinstance(op, str) or not op:
        raise ApiError("INVALID_REQUEST", 'The request has no "op": name the operation, '
                       'like {"op": "seat"}.')
    if args is None:
        args = {}
    if not isinstance(args, dict):
        raise ApiError("INVALID_REQUEST", f'The "args" of {op!r} should be a JSON object.')
    return op, args


def error_of(exc: BaseException, op: str) -> tuple[str, str]:
    """The contract's error code and a person's message for what `op` raised."""
    if isinstance(exc, ApiError):
        return exc.code, exc.message
    if isinstance(exc, errors.Refusal | errors.LocalRefusal):
        return exc.code, str(exc)  # the server's protocol code, or the agent's own
    if isinstance(exc, errors.NetworkError):
        return "OFFLINE", str(exc)  # the message says why: timeout, untrusted certificate…
    if isinstance(exc, errors.ConfigError | errors.DeviceLoginAnswer):
        return "INVALID_REQUEST", str(exc)
    log.error("local API op %s failed", op, exc_info=exc)
    return "INTERNAL", (f"The agent failed while answering {op!r}: {exc or type(exc).__name__}."
                        " Its log has the details.")


def _answer_error(stream: Stream, code: str, message: str) -> bool:
    """Send an error answer; False when the client is gone."""
    try:
        _send(stream, {"ok": False, "error": {"code": code, "message": message}})
        return True
    except OSError:
        return False


def _stream_watch(stream: Stream, connection: Connection) -> None:
    """Send every result of the feed until it ends or the client hangs up.

    A watcher that hung up is noticed at the next change, when writing to it fails. One
    whose connection also holds sessions must give them back at once, so there a reader
    thread waits for its end of file (after `watch` the client sends nothing); a thread
    per plain watcher would double what 100 watchers cost (docs/benchmarks.md).
    """
    feed = connection.watch()

    def wait_for_hangup() -> None:
        with contextlib.suppress(OSError):
            while stream.readline(MAX_LINE):
                pass  # a watch connection carries nothing else; what comes is ignored
        feed.close()

    if connection.has_sessions():
        threading.Thread(target=wait_for_hangup, name="watch-hangup", daemon=True).start()
    try:
        for result in feed:
            _send(stream, {"ok": True, "result": result})
    except OSError:
        pass  # gone, or too slow a reader: the transport gave up on the write
    finally:
        feed.close()


def _send(stream: Stream, message: dict[str, Any]) -> None:
    stream.write(json.dumps(message, ensure_ascii=False).encode("utf-8") + b"\n")


# -- the client side (the CLI and tests; applications use seatkeeper.sdk) ---------------


def request(stream: Stream, op: str, args: dict[str, Any]) -> Any:
    """Send one request on `stream`; its result, or ControlError as the daemon refused it."""
    stream.write(json.dumps({"v": API_VERSION, "op": op, "args": args}).encode() + b"\n")
    return unwrap(stream.readline(MAX_LINE + 1))


def follow(stream: Stream) -> Iterator[Any]:
    """Ask for `watch` on `stream`; every event the daemon streams, until it stops."""
    stream.write(b'{"v": 1, "op": "watch"}\n')
    while line := stream.readline(MAX_LINE + 1):
        yield unwrap(line)


def unwrap(line: bytes) -> Any:
    """The result in one answer line; an empty line means the daemon closed the channel."""
    if not line:
        raise AgentNotRunning("the agent closed the control connection")
    answer = json.loads(line)
    if not answer.get("ok"):
        error = answer.get("error") or {}
        raise ControlError(str(error.get("code", "INTERNAL")), str(error.get("message", "")))
    return answer.get("result")
