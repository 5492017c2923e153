"""The local control channel: the CLI (and any front end) talks to the running daemon here.

The framing (JSON lines, request and answer, `watch`) is in `framing`; the transport is
chosen by the address, one per platform: a Unix socket in the runtime folder on POSIX
(`control_unix`), a named pipe on Windows whose name is derived from the data folder
(`control_pipe`). `local_api_address` says which address a set of `Paths` uses; two
data folders are two agents either way.
"""

from __future__ import annotations

import hashlib
import logging
import ntpath
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from seatkeeper.config import Paths
from seatkeeper.service import framing
from seatkeeper.service.framing import AgentNotRunning, ControlError, Opener

__all__ = ["AgentNotRunning", "ControlClient", "ControlError", "ControlServer",
           "local_api_address", "socket_path"]
log = logging.getLogger(__name__)
PIPE_PREFIX = "\\\\.\\pipe\\"
# Clients served at once (a thread each): past this a local flood is refused, not served,
# so it cannot exhaust the agent's threads or memory. 100 watchers fit with room to spare.
MAX_CONNECTIONS = 256
# A refused client is answered once its request arrives, or after this; past MAX_REFUSING
# of those at once, a further one is closed unanswered.
REFUSE_READ_S = 2.0
MAX_REFUSING = 32


def local_api_address(paths: Paths, platform: str = sys.platform) -> str:
    """Where the agent for `paths` listens: a socket path, or a pipe name on Windows."""
    if platform == "win32":
        # Case and separators do not tell Windows folders apart; they must not here either.
        folder = ntpath.normcase(str(paths.data_dir))
        digest = hashlib.sha256(folder.encode("utf-8")).hexdigest()[:24]
        return f"{PIPE_PREFIX}seatkeeper-{digest}"
    return str(socket_path(paths.runtime_dir))


def socket_path(runtime_dir: Path) -> Path:
    """The control socket's path in a POSIX runtime folder."""
    from seatkeeper.service.control_unix import SOCKET_NAME

    return runtime_dir / SOCKET_NAME


def _is_pipe(address: str) -> bool:
    return address.startswith(PIPE_PREFIX)


class ControlServer:
    """Serves the local API at `address`: one thread and one `open_connection()` per client."""

    def __init__(self, address: str, open_connection: Opener) -> None:
        self.address = address
        self._count_lock = threading.Lock()
        self._serving = self._refusing = 0

        def serve_client(stream: framing.Stream) -> None:
            with self._count_lock:
                full = self._serving >= MAX_CONNECTIONS
                if full and self._refusing >= MAX_REFUSING:
                    return  # a flood: closed at once, nothing read or written
                if full:
                    self._refusing += 1
                else:
                    self._serving += 1
            try:
                if full:
                    _refuse(stream)
                else:
                    framing.serve(stream, open_connection)
            finally:
                with self._count_lock:
                    if full:
                        self._refusing -= 1
                    else:
                        self._serving -= 1

        self._listener: Any
        if _is_pipe(address):
            from seatkeeper.service.control_pipe import PipeListener

            self._listener = PipeListener(address, serve_client)
        else:
            from seatkeeper.service.control_unix import UnixListener

            self._listener = UnixListener(Path(address), serve_client, _refused)

    @property
    def path(self) -> Path:
        """The socket's path (POSIX)."""
        return Path(self.address)

    def start(self) -> None:
        self._listener.start()

    def stop(self) -> None:
        self._listener.stop()


def _refused() -> None:
    log.warning("refused a control connection from another user")


_full_warned = threading.Event()


def _refuse(stream: framing.Stream) -> None:
    """A client past MAX_CONNECTIONS: one clear error, then the connection is closed."""
    if not _full_warned.is_set():  # once: a flood would fill the log
        _full_warned.set()
        log.warning("%d local API connections are open, the most the agent serves; "
                    "further ones are refused until some close", MAX_CONNECTIONS)
    stream.set_read_timeout(REFUSE_READ_S)
    framing.refuse(stream, "RATE_LIMITED", f"The agent already serves {MAX_CONNECTIONS} "
                   "connections, the most it takes at once, so this one is closed. Close "
                   "connections you no longer use (one per application is enough), then "
                   "connect again.")


class ControlClient:
    """Calls the daemon at `address`; raises AgentNotRunning when none answers."""

    def __init__(self, address: str, timeout: float = 30.0) -> None:
        self.address = address
        self.timeout = timeout

    def _connect(self, timeout: float | None) -> Any:
        if _is_pipe(self.address):
            from seatkeeper.service import control_pipe

            return control_pipe.connect(self.address, timeout)
        from seatkeeper.service import control_unix

        return control_unix.connect(Path(self.address), timeout)

    def call(self, op: str, **args: Any) -> Any:
        try:
            with self._connect(self.timeout) as stream:
                return framing.request(stream, op, args)
        except TimeoutError:
            raise ControlError("TIMEOUT", f"The agent at {self.address} did not answer within "
                               f"{self.timeout:g} s. It may be stuck: stop it and start it "
                               "again (`seatkeeper run`).") from None

    def watch(self) -> Iterator[Any]:
        """The seat object now, then at every change (the `watch` events' seats)."""
        with self._connect(None) as stream:
            for event in framing.follow(stream):
                yield event["seat"]
