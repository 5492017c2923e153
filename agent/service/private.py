"""Owner-only folders and files: the agent's four folders, and secrets written without races.

On POSIX each of the agent's folders (configuration, data, logs, runtime) is made
0700; one that already exists and belongs to this user is tightened to 0700; one
that belongs to another user is refused, naming it (its owner could swap the files
inside). Secret files are written to a random temporary name, opened with
O_CREAT|O_EXCL|O_NOFOLLOW (a planted symlink or file makes the open fail instead of
receiving the secret), synced, then renamed over the real name. Files the agent
appends to or opens by name (log, outbox) are opened with O_NOFOLLOW. On Windows
the per-user profile's ACLs already keep others out; folders are only created.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import secrets
from collections.abc import Iterable
from pathlib import Path

from seatkeeper.core.errors import StorageError

log = logging.getLogger(__name__)

NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def private_dir(path: Path) -> Path:
    """Make `path` (and its parents) exist; on POSIX, owned by this user and mode 0700."""
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        if os.name != "posix":
            return path
        info = path.stat()
        if info.st_uid != os.geteuid():
            raise StorageError(
                f"The folder {path} belongs to another user (uid {info.st_uid}), who could "
                "read or swap Seatkeeper's files in it; move it away, or point "
                "SEATKEEPER_HOME at a folder of your own.")
        if info.st_mode & 0o077:
            os.chmod(path, 0o700)
            log.info("tightened %s to owner-only (it was %o)", path, info.st_mode & 0o777)
    except NotADirectoryError:
        raise StorageError(f"{path} is not a folder; move it away.") from None
    except OSError as exc:
        raise StorageError(f"The folder {path} cannot be used: {exc.strerror}.") from None
    return path


def private_dirs(paths: Iterable[Path]) -> None:
    """`private_dir` for each folder, in order; the first refusal stops."""
    for path in paths:
        private_dir(path)


def write_secret(path: Path, text: str) -> None:
    """Replace `path` with `text`, owner-only, atomically, never following a planted link."""
    private_dir(path.parent)
    temp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | NOFOLLOW, 0o600)
    except OSError as exc:
        raise StorageError(f"{path} cannot be written: {exc.strerror}.") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except OSError as exc:
        raise StorageError(f"{path} cannot be written: {exc.strerror}.") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()


def open_private(path: Path, flags: int) -> int:
    """Open (creating it 0600) a file the agent keeps by name; a symlink there is refused."""
    try:
        fd = os.open(path, flags | os.O_CREAT | NOFOLLOW, 0o600)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise StorageError(f"{path} is a symbolic link, which Seatkeeper does not follow "
                               "(someone may have planted it); delete it.") from None
        raise StorageError(f"{path} cannot be opened: {exc.strerror}.") from None
    if os.name == "posix":
        info = os.fstat(fd)
        if info.st_uid != os.geteuid():
            os.close(fd)
            raise StorageError(f"{path} belongs to another user; delete it.")
        if info.st_mode & 0o077:
            os.fchmod(fd, 0o600)
    return fd
