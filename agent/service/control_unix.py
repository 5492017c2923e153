"""The control channel's POSIX transport: a Unix stream socket in an owner-only folder.

The folder is 0700, the socket itself 0600, and on Linux the peer's uid is checked as
well. One thread per client (socketserver's threading server); a client that stops
reading is dropped after WRITE_TIMEOUT_S, never waited on.
"""

from __future__ import annotations

import contextlib
import os
import socket
import socketserver
import struct
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from seatkeeper.service.framing import AgentNotRunning, Stream

SOCKET_NAME = "agent.sock"
# A client that leaves an answer unread this long is dropped (its thread ends), as on
# the pipe: the kernel gives up the blocked send (SO_SNDTIMEO) and the framing sees OSError.
WRITE_TIMEOUT_S = 10
# How long stop() waits for the loop to end (it is a daemon thread: the process may exit).
STOP_WAIT_S = 2.0


class SocketStream:
    """A connected Unix socket as a framing `Stream`."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._reader: Any = sock.makefile("rb")

    def readline(self, limit: int) -> bytes:
        line: bytes = self._reader.readline(limit)
        return line

    def write(self, data: bytes) -> None:
        self._sock.sendall(data)

    def set_read_timeout(self, seconds: float) -> None:
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO,
                              struct.pack("ll", int(seconds), int(seconds % 1 * 1e6)))

    def close(self) -> None:
        # shutdown first: it wakes a thread still blocked reading this socket (a watch's
        # hangup reader), which a bare close would leave waiting, the peer never told.
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._reader.close()
        self._sock.close()


def _peer_is_owner(conn: socket.socket) -> bool:
    if not sys.platform.startswith("linux"):
        return True  # the 0700 directory and 0600 socket already keep others out
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return uid == os.getuid()


class UnixListener:
    """Listens on `path`; hands each client of this user to `serve_client` on its own thread."""

    def __init__(self, path: Path, serve_client: Callable[[Stream], None],
                 on_refused: Callable[[], None]) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(path.parent, 0o700)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()  # a stale socket from a crash; the instance lock is held

        class _Request(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                if not _peer_is_owner(self.request):
                    on_refused()
                    return
                self.request.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO,
                                        struct.pack("ll", WRITE_TIMEOUT_S, 0))
                stream = SocketStream(self.request)
                try:
                    serve_client(stream)
                finally:
                    stream.close()

        old = os.umask(0o177)
        try:
            self._server = socketserver.ThreadingUnixStreamServer(str(path), _Request)
        finally:
            os.umask(old)
        self._server.daemon_threads = True
        # No poll: the loop sleeps until a client connects (stop wakes it with one).
        self._thread = threading.Thread(target=self._server.serve_forever, args=(None,),
                                        name="control", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        if self._thread.is_alive():
            stopper = threading.Thread(target=self._server.shutdown, name="control-stop",
                                       daemon=True)
            stopper.start()
            deadline = time.monotonic() + STOP_WAIT_S
            while stopper.is_alive() and time.monotonic() < deadline:
                self._wake()  # the loop wakes, sees it must stop, and ends
                stopper.join(0.05)
        self._server.server_close()

    def _wake(self) -> None:
        """Wake the loop's select: a connection, or, where the socket's file is gone,
        shutting the listening socket (Linux wakes a select on it then)."""
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as waker:
                waker.connect(str(self.path))
        except OSError:
            with contextlib.suppress(OSError):
                self._server.socket.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


@contextlib.contextmanager
def connect(path: Path, timeout: float | None) -> Any:
    """A `SocketStream` to the daemon at `path`; AgentNotRunning when nothing listens."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(str(path))
    except (FileNotFoundError, ConnectionRefusedError) as exc:
        sock.close()
        raise AgentNotRunning(f"no Seatkeeper agent is running ({path})") from exc
    stream = SocketStream(sock)
    try:
        yield stream
    finally:
        stream.close()
