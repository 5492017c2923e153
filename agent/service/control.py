"""The local control socket: the CLI (and any front end) talks to the running daemon here.

One JSON object per line. A request is `{"op": "status", "args": {…}}`; the answer is
`{"ok": true, "result": …}` or `{"ok": false, "error": {"code", "message"}}`. The
`watch` op streams one answer per status change until the client hangs up.
The socket lives in an owner-only directory, is itself 0600, and on Linux the
peer's uid is checked as well.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import socketserver
import struct
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from seatkeeper.core.errors import SeatkeeperError

log = logging.getLogger(__name__)
SOCKET_NAME = "agent.sock"
MAX_LINE = 1 << 20

Handler = Callable[[str, dict[str, Any]], Any]
Watcher = Callable[[], Iterator[Any]]


class AgentNotRunning(RuntimeError):
    """No daemon answers on the control socket."""


class ControlError(RuntimeError):
    """The daemon refused the request; `code` says why (as the error tree names it)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def socket_path(runtime_dir: Path) -> Path:
    return runtime_dir / SOCKET_NAME


def _peer_is_owner(conn: socket.socket) -> bool:
    if not sys.platform.startswith("linux"):
        return True  # the 0700 directory and 0600 socket already keep others out
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return uid == os.getuid()


class ControlServer:
    """Serves `handle(op, args)` and `watch()` on a Unix socket, one thread per client."""

    def __init__(self, runtime_dir: Path, handle: Handler, watch: Watcher) -> None:
        self.path = socket_path(runtime_dir)
        self._handle, self._watch = handle, watch
        runtime_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(runtime_dir, 0o700)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()  # a stale socket from a crash; the instance lock is held
        outer = self

        class _Request(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                outer._serve(self.connection, self.rfile, self.wfile)

        old = os.umask(0o177)
        try:
            self._server = socketserver.ThreadingUnixStreamServer(str(self.path), _Request)
        finally:
            os.umask(old)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="control",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def _serve(self, conn: socket.socket, rfile: Any, wfile: Any) -> None:
        if not _peer_is_owner(conn):
            log.warning("refused a control connection from another user")
            return
        line = rfile.readline(MAX_LINE)
        try:
            request = json.loads(line)
            op, args = str(request["op"]), dict(request.get("args") or {})
        except (ValueError, KeyError, TypeError):
            _send(wfile, {"ok": False, "error": {"code": "BAD_REQUEST",
                                                 "message": "not a control request"}})
            return
        try:
            if op == "watch":
                for item in self._watch():
                    _send(wfile, {"ok": True, "result": item})
                return
            _send(wfile, {"ok": True, "result": self._handle(op, args)})
        except (BrokenPipeError, ConnectionResetError):
            return
        except Exception as exc:
            code = getattr(exc, "code", None) or exc.__class__.__name__
            # Our errors read as message plus what to do ("… set ca_bundle"); keep both.
            message = (str(exc) if isinstance(exc, SeatkeeperError)
                       else getattr(exc, "message", None) or str(exc)) or code
            if not hasattr(exc, "code"):
                log.exception("control request %s failed", op)
            with contextlib.suppress(OSError):
                _send(wfile, {"ok": False, "error": {"code": code, "message": message}})


def _send(wfile: Any, message: dict[str, Any]) -> None:
    wfile.write(json.dumps(message).encode() + b"\n")
    wfile.flush()


class ControlClient:
    """Calls the daemon for `runtime_dir`; raises AgentNotRunning when none answers."""

    def __init__(self, runtime_dir: Path, timeout: float = 30.0) -> None:
        self.path = socket_path(runtime_dir)
        self.timeout = timeout

    def _connect(self, timeout: float | None) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(str(self.path))
        except (FileNotFoundError, ConnectionRefusedError) as exc:
            sock.close()
            raise AgentNotRunning(f"no Seatkeeper agent is running ({self.path})") from exc
        return sock

    def call(self, op: str, **args: Any) -> Any:
        with self._connect(self.timeout) as sock:
            sock.sendall(json.dumps({"op": op, "args": args}).encode() + b"\n")
            with sock.makefile("rb") as reader:
                return _unwrap(reader.readline(MAX_LINE))

    def watch(self) -> Iterator[Any]:
        with self._connect(None) as sock:
            sock.sendall(b'{"op": "watch"}\n')
            with sock.makefile("rb") as reader:
                for line in reader:
                    yield _unwrap(line)


def _unwrap(line: bytes) -> Any:
    if not line:
        raise AgentNotRunning("the agent closed the control connection")
    answer = json.loads(line)
    if not answer.get("ok"):
        error = answer.get("error") or {}
        raise ControlError(str(error.get("code", "ERROR")), str(error.get("message", "")))
    return answer.get("result")
