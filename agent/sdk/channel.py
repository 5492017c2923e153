"""Finding the agent and talking to it: one JSON-lines connection (docs/local-api.md).

Standard library only. The address is `SEATKEEPER_LOCAL_API` when set, else the
agent's own rule for this OS: the agent's code computes it when it is installed
beside this module; otherwise the same rule is followed here (a Unix socket in the
runtime folder; on Windows a named pipe named after the data folder).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import ntpath
import os
import socket
import sys
import threading
from pathlib import Path
from typing import Any

PIPE_PREFIX = "\\\\.\\pipe\\"
MAX_LINE = 1 << 20


class AgentUnavailable(ConnectionError):
    """No agent answers at the address (not running, or it went away)."""


class LocalApiError(Exception):
    """The agent refused a request: `code` as the local API names it, `message` for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message = code, message


def find_agent(env: dict[str, str] | None = None) -> str:
    """The agent's local API address: `SEATKEEPER_LOCAL_API`, else the agent's rule."""
    env = dict(os.environ if env is None else env)
    given = env.get("SEATKEEPER_LOCAL_API")
    if given:
        return given
    try:
        from seatkeeper.config import Paths
        from seatkeeper.service.control import local_api_address
    except ImportError:  # only this SDK is installed, not the agent's dependencies
        return _own_rule(env)
    return local_api_address(Paths.resolve(env))


def _own_rule(env: dict[str, str]) -> str:
    """The agent's address rule without platformdirs (its common cases)."""
    home = env.get("SEATKEEPER_HOME")
    if sys.platform == "win32":
        base = (str(Path(home).expanduser().absolute() / "data") if home else
                ntpath.join(env.get("LOCALAPPDATA", ntpath.expanduser("~\\AppData\\Local")),
                            "seatkeeper"))
        digest = hashlib.sha256(ntpath.normcase(base).encode("utf-8")).hexdigest()[:24]
        return f"{PIPE_PREFIX}seatkeeper-{digest}"
    if home:
        return str(Path(home).expanduser().absolute() / "run" / "agent.sock")
    if sys.platform == "darwin":
        return str(Path("~/Library/Caches/TemporaryItems/seatkeeper/agent.sock").expanduser())
    runtime = env.get("XDG_RUNTIME_DIR") or f"/run/user/{os.getuid()}"
    return str(Path(runtime, "seatkeeper", "agent.sock"))


class Channel:
    """One connection to the agent: `request` in turn, or `events` after `watch`.

    Requests from several threads are taken in turn (a lock); `close` may come from any
    thread and ends a blocked read.
    """

    def __init__(self, address: str, timeout: float | None = 15.0) -> None:
        self.address = address
        self._lock = threading.Lock()
        self._buffer = b""
        self._sock: socket.socket | None = None
        self._pipe: Any = None
        try:
            if address.startswith(PIPE_PREFIX):
                self._pipe = open(address, "r+b", buffering=0)  # noqa: SIM115 (kept open)
            else:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self._sock.settimeout(timeout)
                self._sock.connect(address)
        except OSError as exc:
            self.close()
            raise AgentUnavailable(f"No Seatkeeper agent answers at {address} ({exc}). Start "
                                   "it (`seatkeeper run`), or log in from its tray.") from None

    def request(self, op: str, args: dict[str, Any] | None = None) -> Any:
        """Send one request; its result, or LocalApiError with the agent's code."""
        line = json.dumps({"v": 1, "op": op, "args": args or {}}).encode("utf-8") + b"\n"
        with self._lock:
            self._write(line)
            return _unwrap(self._readline())

    def watch(self) -> None:
        """Turn this connection into the seat's event stream (read it with `next_event`)."""
        with self._lock:
            self._write(b'{"v": 1, "op": "watch"}\n')
            if self._sock is not None:
                self._sock.settimeout(None)  # events come when the seat changes

    def next_event(self) -> dict[str, Any]:
        """The next `{"event", "seat"}`; AgentUnavailable once the agent is gone."""
        result: dict[str, Any] = _unwrap(self._readline())
        return result

    def close(self) -> None:
        sock, pipe, self._sock, self._pipe = self._sock, self._pipe, None, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked reading it
            sock.close()
        if pipe is not None:
            with contextlib.suppress(OSError):
                pipe.close()

    def _write(self, data: bytes) -> None:
        try:
            if self._sock is not None:
                self._sock.sendall(data)
            elif self._pipe is not None:
                self._pipe.write(data)
            else:
                raise OSError("closed")
        except OSError as exc:
            raise AgentUnavailable(f"The agent at {self.address} went away ({exc}).") from None

    def _readline(self) -> bytes:
        while b"\n" not in self._buffer:
            try:
                if self._sock is not None:
                    chunk = self._sock.recv(65536)
                elif self._pipe is not None:
                    chunk = self._pipe.read(65536)
                else:
                    chunk = b""
            except TimeoutError:
                raise AgentUnavailable(f"The agent at {self.address} did not answer in time."
                                       ) from None
            except OSError:
                chunk = b""
            if not chunk:
                raise AgentUnavailable(f"The agent at {self.address} closed the connection.")
            self._buffer += chunk
            if len(self._buffer) > MAX_LINE + 1 and b"\n" not in self._buffer:
                raise AgentUnavailable("The agent sent a line longer than 1 MiB.")
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line

    def __enter__(self) -> Channel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _unwrap(line: bytes) -> Any:
    try:
        answer = json.loads(line)
    except ValueError:
        raise AgentUnavailable("The agent's answer is not JSON; is something else listening "
                               "at its address?") from None
    if not isinstance(answer, dict):
        raise AgentUnavailable("The agent's answer is not a JSON object.")
    if not answer.get("ok"):
        error = answer.get("error") or {}
        raise LocalApiError(str(error.get("code", "INTERNAL")), str(error.get("message", "")))
    return answer.get("result")
