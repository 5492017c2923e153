"""Owner-only folders and files: the agent's four folders, and secrets written without races.

On POSIX each of the agent's folders (configuration, data, logs, runtime) is made
0700; one that already exists and belongs to this user is tightened to 0700; one
that belongs to another user is refused, naming it (its owner could swap the files
inside). Secret files are written to a random temporary name, opened with
O_CREAT|O_EXCL|O_NOFOLLOW (a planted symlink or file makes the open fail instead of
receiving the secret), synced, then renamed over the real name. Files the agent
appends to or opens by name (log, outbox) are opened with O_NOFOLLOW.

Windows ignores those modes (only the read-only bit exists), and a folder's files
inherit its access list: under %LOCALAPPDATA% that grants the user, SYSTEM and
Administrators, but a SEATKEEPER_HOME elsewhere may inherit "Users: read". There
`owner_only` replaces the access list with one entry, the current user, protected
from inheritance and inherited by everything made inside a folder, so the device
token file, the outbox (which holds the tokens of queued logouts) and the logs are
the user's alone there too.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from seatkeeper.core.errors import StorageError

log = logging.getLogger(__name__)

NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def private_dir(path: Path) -> Path:
    """Make `path` (and its parents) exist; on POSIX, owned by this user and mode 0700."""
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        if os.name != "posix":
            owner_only(path)
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
    import secrets  # here: it loads OpenSSL's hashing (hmac), which the tray's start does not need

    private_dir(path.parent)
    temp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | NOFOLLOW, 0o600)
    except OSError as exc:
        raise StorageError(f"{path} cannot be written: {exc.strerror}.") from None
    owner_only(temp)  # on Windows, before the secret is in it
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
    if os.name != "posix":
        owner_only(path)
        return fd
    info = os.fstat(fd)
    if info.st_uid != os.geteuid():
        os.close(fd)
        raise StorageError(f"{path} belongs to another user; delete it.")
    if info.st_mode & 0o077:
        os.fchmod(fd, 0o600)
    return fd


def owner_only(path: Path) -> None:
    """On Windows, let only the current user open `path` (and what a folder will hold)."""
    if sys.platform != "win32":
        return  # the 0700/0600 modes the callers use already say so
    try:
        _set_owner_only_acl(path)
    except Exception as exc:  # pywin32 raises its own error type; the file still works
        log.warning("cannot limit %s to the current user (%s); it keeps the access list "
                    "it inherited", path, getattr(exc, "strerror", None) or exc)


def current_user_sid() -> Any:
    """The SID of the user this process runs as."""
    import win32api
    import win32security

    token = win32security.OpenProcessToken(win32api.GetCurrentProcess(),
                                           win32security.TOKEN_QUERY)
    return win32security.GetTokenInformation(token, win32security.TokenUser)[0]


def _set_owner_only_acl(path: Path) -> None:
    import ntsecuritycon
    import win32security

    inherit = (ntsecuritycon.OBJECT_INHERIT_ACE | ntsecuritycon.CONTAINER_INHERIT_ACE
               if path.is_dir() else 0)
    dacl = win32security.ACL()
    dacl.AddAccessAllowedAceEx(win32security.ACL_REVISION, inherit,
                               ntsecuritycon.FILE_ALL_ACCESS, current_user_sid())
    descriptor = win32security.SECURITY_DESCRIPTOR()
    descriptor.SetSecurityDescriptorDacl(True, dacl, False)
    # Protected: the folder's inheritable entries ("Users: read") no longer apply here.
    descriptor.SetSecurityDescriptorControl(win32security.SE_DACL_PROTECTED,
                                            win32security.SE_DACL_PROTECTED)
    win32security.SetFileSecurity(str(path), win32security.DACL_SECURITY_INFORMATION,
                                  descriptor)
