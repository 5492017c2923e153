"""One daemon per user and data directory: an exclusive lock on a file in the runtime dir."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

from seatkeeper.service.private import owner_only


class AlreadyRunning(RuntimeError):
    """Another agent holds the lock; its pid is in the message when known."""


# Windows locks byte ranges, and a locked range cannot be read by anyone else: lock one
# byte far past the pid (locking beyond the end is allowed), so a second agent can read
# who holds it. Every process locks the same byte, whatever the file's length.
WINDOWS_LOCK_OFFSET = 1 << 20


class InstanceLock:
    """Held for the daemon's lifetime; the OS drops it if the process dies, even by SIGKILL."""

    def __init__(self, runtime_dir: Path) -> None:
        self.path = runtime_dir / "agent.lock"
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(self.path.parent, 0o700)
        owner_only(self.path.parent)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_BINARY", 0), 0o600)
        try:
            _lock(fd)
        except OSError:
            pid = _read_pid(fd)
            os.close(fd)
            raise AlreadyRunning(
                "Seatkeeper is already running" + (f" (pid {pid})" if pid else "")
                + ". Use `seatkeeper status` to talk to it.") from None
        os.lseek(fd, 0, os.SEEK_SET)
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode("ascii"))
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the lock, on every platform
            self._fd = None


def _read_pid(fd: int) -> str:
    with contextlib.suppress(OSError):
        os.lseek(fd, 0, os.SEEK_SET)
        return os.read(fd, 32).decode("ascii", "replace").strip()
    return ""


def _lock(fd: int) -> None:
    """Non-blocking exclusive lock; raises OSError if another process holds it."""
    if sys.platform == "win32":
        import msvcrt

        os.lseek(fd, WINDOWS_LOCK_OFFSET, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined]
    else:
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
