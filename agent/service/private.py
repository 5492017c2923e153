"""Files and folders only their owner can open: the modes do it on POSIX, an ACL on Windows.

On POSIX the callers create folders 0700 and files 0600. Windows ignores those modes
(only the read-only bit exists), and a folder's files inherit its access list: under
%LOCALAPPDATA% that grants the user, SYSTEM and Administrators, but a SEATKEEPER_HOME
elsewhere may inherit "Users: read". `owner_only` replaces the access list with one
entry, the current user, protected from inheritance and inherited by everything made
inside a folder, so the device token file, the outbox (which holds the tokens of queued
logouts) and the logs are the user's alone there too.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


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
