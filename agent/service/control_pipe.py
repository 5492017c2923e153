"""The control channel's Windows transport: a named pipe only the current user can open.

The pipe's security descriptor names the current user as owner and its DACL grants
that user alone (so nobody else can connect, nor add an instance of the pipe); remote
clients are rejected (PIPE_REJECT_REMOTE_CLIENTS). The first instance is created with
FILE_FLAG_FIRST_PIPE_INSTANCE, so a pipe of that name that another process made
first is refused instead of shared, and the next instance is always made before a
connected one is handed off, so the name never lapses while the agent runs. A client
checks that the pipe it reached is owned by its own user before it says anything.

All I/O is overlapped, each wait bounded by the listener's stop event and a timeout:
one thread per client, and a client that stops reading is dropped, never waited on.
pywin32 is imported lazily, so this module imports (and its names resolve) anywhere.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from seatkeeper.core.errors import SeatkeeperError
from seatkeeper.service.framing import AgentNotRunning, Stream
from seatkeeper.service.private import current_user_sid

log = logging.getLogger(__name__)
PIPE_PREFIX = "\\\\.\\pipe\\"
BUFFER = 64 * 1024
# A client that leaves an answer unread this long is dropped (its thread ends).
WRITE_TIMEOUT_S = 10.0
SLICE_S = 0.5
STOP_WAIT_S = 1.0  # how long stop() waits for clients to let go of their instances
BUSY_WAIT_S = 5.0  # a watch client (no timeout) waits this long for a free instance
# Windows error codes (winerror), by name.
ERROR_FILE_NOT_FOUND, ERROR_ACCESS_DENIED, ERROR_BROKEN_PIPE = 2, 5, 109
ERROR_PIPE_BUSY, ERROR_NO_DATA, ERROR_PIPE_NOT_CONNECTED = 231, 232, 233
ERROR_PIPE_CONNECTED, ERROR_OPERATION_ABORTED, ERROR_IO_PENDING = 535, 995, 997
ERROR_SEM_TIMEOUT = 121
GONE = (ERROR_BROKEN_PIPE, ERROR_NO_DATA, ERROR_PIPE_NOT_CONNECTED)


class PipeTaken(SeatkeeperError):
    """The agent's pipe name is already taken by a process that is not this agent."""

    user_action_required = True


class PipeNotOurs(SeatkeeperError):
    """The pipe a client reached does not belong to the current user."""

    user_action_required = True


def owner_only_attributes() -> Any:
    """SECURITY_ATTRIBUTES: owner and sole grantee the current user, not inherited."""
    import ntsecuritycon
    import win32security

    user = current_user_sid()
    dacl = win32security.ACL()
    dacl.AddAccessAllowedAce(win32security.ACL_REVISION, ntsecuritycon.FILE_ALL_ACCESS, user)
    descriptor = win32security.SECURITY_DESCRIPTOR()
    descriptor.SetSecurityDescriptorOwner(user, False)
    descriptor.SetSecurityDescriptorDacl(True, dacl, False)
    attributes = win32security.SECURITY_ATTRIBUTES()
    attributes.SECURITY_DESCRIPTOR = descriptor
    attributes.bInheritHandle = False
    return attributes


def _os_error(exc: Any) -> OSError:
    """pywin32's error as the OSError the framing expects (a gone peer: BrokenPipeError)."""
    kind = BrokenPipeError if exc.winerror in GONE else OSError
    return kind(exc.winerror, exc.strerror)


class PipeStream:
    """One end of a connected pipe (overlapped handle) as a framing `Stream`."""

    def __init__(self, handle: Any, stop: Any = None, read_timeout: float | None = None,
                 write_timeout: float | None = WRITE_TIMEOUT_S) -> None:
        self.handle = handle
        self._stop = stop  # a Windows event that ends every wait (the listener stopping)
        self._read_timeout, self._write_timeout = read_timeout, write_timeout
        self._buffer = b""
        self._eof = False

    def _finish(self, overlapped: Any, timeout: float | None) -> int:
        """Bytes moved by the overlapped call, once done; cancels it on timeout or stop."""
        import win32event
        import win32file

        handles = [overlapped.hEvent] + ([self._stop] if self._stop is not None else [])
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            while True:
                # Short waits: Python runs Ctrl+C's handler between them, never inside one.
                left = SLICE_S if deadline is None else min(SLICE_S, deadline - time.monotonic())
                got = win32event.WaitForMultipleObjects(handles, False, max(0, int(left * 1000)))
                if got == win32event.WAIT_OBJECT_0:
                    return int(win32file.GetOverlappedResult(self.handle, overlapped, False))
                if got != win32event.WAIT_TIMEOUT or (deadline and time.monotonic() >= deadline):
                    raise TimeoutError("the other end of the control pipe stopped answering")
        except BaseException:
            # The call may not outlive this frame: its buffer and OVERLAPPED go with it.
            win32file.CancelIo(self.handle)
            with contextlib.suppress(Exception):  # the cancelled call's own error
                win32file.GetOverlappedResult(self.handle, overlapped, True)
            raise

    def _read_some(self) -> bytes:
        import pywintypes
        import win32event
        import win32file

        overlapped = pywintypes.OVERLAPPED()
        overlapped.hEvent = win32event.CreateEvent(None, True, False, None)
        buffer = win32file.AllocateReadBuffer(BUFFER)
        try:
            win32file.ReadFile(self.handle, buffer, overlapped)
            count = self._finish(overlapped, self._read_timeout)
        except pywintypes.error as exc:
            if exc.winerror in GONE:
                return b""
            raise _os_error(exc) from None
        return bytes(buffer[:count])

    def set_read_timeout(self, seconds: float) -> None:
        self._read_timeout = seconds

    def readline(self, limit: int) -> bytes:
        while b"\n" not in self._buffer and len(self._buffer) < limit and not self._eof:
            chunk = self._read_some()
            self._eof = not chunk
            self._buffer += chunk
        end = self._buffer.find(b"\n") + 1 or len(self._buffer)
        end = min(end, limit)
        line, self._buffer = self._buffer[:end], self._buffer[end:]
        return line

    def write(self, data: bytes) -> None:
        import pywintypes
        import win32event
        import win32file

        view = memoryview(data)
        while view:
            overlapped = pywintypes.OVERLAPPED()
            overlapped.hEvent = win32event.CreateEvent(None, True, False, None)
            try:
                win32file.WriteFile(self.handle, view[:BUFFER].tobytes(), overlapped)
                sent = self._finish(overlapped, self._write_timeout)
            except pywintypes.error as exc:
                raise _os_error(exc) from None
            view = view[sent:]

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.handle.Close()


class PipeListener:
    """Serves `name`; each client of this user goes to `serve_client` on its own thread."""

    def __init__(self, name: str, serve_client: Callable[[Stream], None]) -> None:
        import win32event

        self.name = name
        self._serve_client = serve_client
        self._attributes = owner_only_attributes()
        self._stop = win32event.CreateEvent(None, True, False, None)
        self._waiting = self._instance(first=True)
        self._thread = threading.Thread(target=self._accept, name="control", daemon=True)
        self._clients: set[threading.Thread] = set()

    def _instance(self, *, first: bool) -> Any:
        import pywintypes
        import win32file
        import win32pipe

        open_mode = win32pipe.PIPE_ACCESS_DUPLEX | win32file.FILE_FLAG_OVERLAPPED
        if first:
            open_mode |= win32pipe.FILE_FLAG_FIRST_PIPE_INSTANCE
        pipe_mode = (win32pipe.PIPE_TYPE_BYTE | win32pipe.PIPE_READMODE_BYTE
                     | win32pipe.PIPE_WAIT | win32pipe.PIPE_REJECT_REMOTE_CLIENTS)
        try:
            handle = win32pipe.CreateNamedPipe(
                self.name, open_mode, pipe_mode, win32pipe.PIPE_UNLIMITED_INSTANCES,
                BUFFER, BUFFER, 0, self._attributes)
        except pywintypes.error as exc:
            if exc.winerror in (ERROR_ACCESS_DENIED, ERROR_PIPE_BUSY):
                raise PipeTaken(self._taken()) from None
            raise _os_error(exc) from None
        # Our instance must be the pipe's only one. Windows refuses a taken name already
        # (the flag above); Wine 8 ignores that flag, but counts instances all the same.
        if first and win32pipe.GetNamedPipeHandleState(handle, False)[1] != 1:
            handle.Close()
            raise PipeTaken(self._taken())
        return handle

    def _taken(self) -> str:
        return (f"The agent's control pipe {self.name} already exists, made by another "
                "program (or another user), so this agent cannot listen there safely. "
                "Close the program that holds it, or sign out and in again; an agent with "
                "its own data folder (SEATKEEPER_HOME) uses another pipe.")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        import win32event

        win32event.SetEvent(self._stop)
        if self._thread.is_alive():
            self._thread.join(timeout=5.0)
        else:
            PipeStream(self._waiting).close()
        # Clients waiting on the pipe wake at the stop event and close their instance; once
        # they have, the pipe is gone and a new client hears that no agent runs. (A watch
        # waiting for the next change ends at its next write, or with the process.)
        deadline = time.monotonic() + STOP_WAIT_S
        for client in list(self._clients):
            client.join(timeout=max(0.0, deadline - time.monotonic()))

    def _accept(self) -> None:
        import pywintypes
        import win32event
        import win32pipe

        while True:
            handle = self._waiting
            overlapped = pywintypes.OVERLAPPED()
            overlapped.hEvent = win32event.CreateEvent(None, True, False, None)
            try:
                if win32pipe.ConnectNamedPipe(handle, overlapped) == ERROR_IO_PENDING:
                    PipeStream(handle, self._stop)._finish(overlapped, None)
            except TimeoutError:  # the stop event
                PipeStream(handle).close()
                return
            except pywintypes.error as exc:
                # The client came and went before we saw it; this instance is spent.
                log.debug("control pipe connect failed: %s", exc.strerror)
                PipeStream(handle).close()
                self._waiting = self._renew()
                if self._waiting is None:
                    return
                continue
            # The next instance exists before this one is handed off: the name never lapses.
            self._waiting = self._renew()
            if self._waiting is None:
                PipeStream(handle).close()
                return
            client = threading.Thread(target=self._client, args=(handle,),
                                      name="control-client", daemon=True)
            self._clients.add(client)
            client.start()

    def _renew(self) -> Any:
        """The next listening instance; None once stopping (it retries what fails meanwhile)."""
        import win32event

        while True:
            try:
                return self._instance(first=False)
            except Exception:
                log.exception("cannot open another instance of the control pipe; retrying")
            if win32event.WaitForSingleObject(self._stop, 1000) == win32event.WAIT_OBJECT_0:
                return None

    def _client(self, handle: Any) -> None:
        stream = PipeStream(handle, self._stop)
        try:
            self._serve_client(stream)
        finally:
            # Closing (not DisconnectNamedPipe) leaves the last answer for the client to
            # read; FlushFileBuffers would wait for as long as a stalled client does not.
            stream.close()
            self._clients.discard(threading.current_thread())


def _owner(handle: Any) -> Any:
    import win32security

    info = win32security.GetSecurityInfo(handle, win32security.SE_KERNEL_OBJECT,
                                         win32security.OWNER_SECURITY_INFORMATION)
    return info.GetSecurityDescriptorOwner()


@contextlib.contextmanager
def connect(name: str, timeout: float | None) -> Iterator[PipeStream]:
    """A `PipeStream` to the daemon on `name`; AgentNotRunning when no such pipe exists."""
    import pywintypes
    import win32con
    import win32file
    import win32pipe

    deadline = time.monotonic() + (BUSY_WAIT_S if timeout is None else timeout)
    while True:
        try:
            handle = win32file.CreateFile(
                name, win32file.GENERIC_READ | win32file.GENERIC_WRITE, 0, None,
                win32file.OPEN_EXISTING,
                # The server may identify us, never act as us.
                win32file.FILE_FLAG_OVERLAPPED | win32con.SECURITY_SQOS_PRESENT
                | win32file.SECURITY_IDENTIFICATION, None)
            break
        except pywintypes.error as exc:
            if exc.winerror == ERROR_FILE_NOT_FOUND:
                raise AgentNotRunning(f"no Seatkeeper agent is running ({name})") from None
            if exc.winerror == ERROR_ACCESS_DENIED:
                raise PipeNotOurs(_not_ours(name)) from None
            if exc.winerror != ERROR_PIPE_BUSY:
                raise _os_error(exc) from None
        # Every instance is busy for a moment (or the last one is closing): wait, try again.
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"the agent's control pipe {name} stays busy") from None
        with contextlib.suppress(pywintypes.error):
            win32pipe.WaitNamedPipe(name, max(1, int(min(left, SLICE_S) * 1000)))
    stream = PipeStream(handle, read_timeout=timeout, write_timeout=timeout)
    try:
        if _owner(handle) != current_user_sid():
            raise PipeNotOurs(_not_ours(name))
        yield stream
    finally:
        stream.close()


def _not_ours(name: str) -> str:
    return (f"The control pipe {name} belongs to another user, not to this agent; "
            "nothing was sent to it. Close the program that holds it, or set "
            "SEATKEEPER_HOME to use another data folder (and pipe).")
