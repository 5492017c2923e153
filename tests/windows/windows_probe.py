"""Run by the Windows CPython: read access lists; squat on or stall the agent's named pipe.

    python windows_probe.py acl NAME     the pipe's owner and access list, as JSON
    python windows_probe.py file-acl P   a file's or folder's access list, as JSON
    python windows_probe.py squat NAME [admins]   make a pipe of that name first (owned by
                                         Administrators: as another user's would be), hold
                                         it until stdin ends; JSON: the bytes clients sent
    python windows_probe.py stall NAME   two clients that never read, then eight at once; JSON
    python windows_probe.py serve NAME   a control server on NAME: answers, watch, stop; JSON

Each prints one JSON line (or "ready" for squat), for the Linux side to read.
"""

from __future__ import annotations

import contextlib
import json
import sys
import threading
import time
from typing import Any


def _sid(sid: Any) -> str:
    import win32security

    return str(win32security.ConvertSidToStringSid(sid))


def _aces(dacl: Any) -> list[dict[str, Any]]:
    aces = []
    for index in range(dacl.GetAceCount()):
        (kind, flags), mask, sid = dacl.GetAce(index)
        aces.append({"type": kind, "flags": flags, "mask": mask, "sid": _sid(sid)})
    return aces


def file_acl(path: str) -> dict[str, Any]:
    """A file's or folder's access list, whether it is protected, and who we are."""
    import win32security
    from seatkeeper.service.private import current_user_sid

    descriptor = win32security.GetNamedSecurityInfo(
        path, win32security.SE_FILE_OBJECT, win32security.DACL_SECURITY_INFORMATION)
    control, _revision = descriptor.GetSecurityDescriptorControl()
    return {"user": _sid(current_user_sid()), "aces": _aces(descriptor.GetSecurityDescriptorDacl()),
            "protected": bool(control & win32security.SE_DACL_PROTECTED),
            "allowed_type": win32security.ACCESS_ALLOWED_ACE_TYPE}


def acl(name: str) -> dict[str, Any]:
    """The pipe's owner, its DACL's entries, and who we are."""
    import win32file
    import win32security
    from seatkeeper.service.private import current_user_sid

    handle = win32file.CreateFile(name, win32file.GENERIC_READ | win32file.GENERIC_WRITE, 0,
                                  None, win32file.OPEN_EXISTING, 0, None)
    try:
        info = win32security.GetSecurityInfo(
            handle, win32security.SE_KERNEL_OBJECT,
            win32security.OWNER_SECURITY_INFORMATION | win32security.DACL_SECURITY_INFORMATION)
    finally:
        handle.Close()
    return {"user": _sid(current_user_sid()), "owner": _sid(info.GetSecurityDescriptorOwner()),
            "aces": _aces(info.GetSecurityDescriptorDacl()),
            "allowed_type": win32security.ACCESS_ALLOWED_ACE_TYPE}


def _owned_by_administrators() -> Any:
    """Security attributes of a pipe anyone may open, owned by another principal than us."""
    import ntsecuritycon
    import win32security

    dacl = win32security.ACL()
    dacl.AddAccessAllowedAce(win32security.ACL_REVISION, ntsecuritycon.FILE_ALL_ACCESS,
                             win32security.ConvertStringSidToSid("S-1-1-0"))
    descriptor = win32security.SECURITY_DESCRIPTOR()
    descriptor.SetSecurityDescriptorOwner(win32security.ConvertStringSidToSid("S-1-5-32-544"),
                                          False)
    descriptor.SetSecurityDescriptorDacl(True, dacl, False)
    attributes = win32security.SECURITY_ATTRIBUTES()
    attributes.SECURITY_DESCRIPTOR = descriptor
    return attributes


def squat(name: str, owner: str = "") -> dict[str, Any]:
    """Make a pipe of that name, as another program could; count what clients send to it."""
    import pywintypes
    import win32file
    import win32pipe

    attributes = _owned_by_administrators() if owner == "admins" else None
    handle = win32pipe.CreateNamedPipe(
        name, win32pipe.PIPE_ACCESS_DUPLEX, win32pipe.PIPE_TYPE_BYTE | win32pipe.PIPE_WAIT,
        1, 4096, 4096, 0, attributes)
    received = bytearray()

    def listen() -> None:
        while True:
            with contextlib.suppress(pywintypes.error):  # the client came and went already
                win32pipe.ConnectNamedPipe(handle, None)
            try:
                while True:
                    received.extend(win32file.ReadFile(handle, 4096)[1])
            except pywintypes.error:
                win32pipe.DisconnectNamedPipe(handle)

    threading.Thread(target=listen, daemon=True).start()
    print("ready", flush=True)
    sys.stdin.readline()
    return {"received": len(received)}


def stall(name: str) -> dict[str, Any]:
    """Two clients that stall (a half line; a watch never read), then eight calls at once."""
    from seatkeeper.service import control_pipe
    from seatkeeper.service.control import ControlClient

    with control_pipe.connect(name, 30) as half, control_pipe.connect(name, 30) as watcher:
        half.write(b'{"op": "sta')
        watcher.write(b'{"op": "watch"}\n')
        results: list[Any] = []

        def ping() -> None:
            try:
                results.append(ControlClient(name, timeout=10).call("ping"))
            except Exception as exc:
                results.append(f"{exc.__class__.__name__}: {exc}")

        threads = [threading.Thread(target=ping) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    return {"results": results}


def serve(name: str) -> dict[str, Any]:
    """Serve on `name` in-process: a call, a watch to its end, then stop with a client idle."""
    from seatkeeper.service import control_pipe
    from seatkeeper.service.control import AgentNotRunning, ControlClient, ControlServer
    from seatkeeper.service.framing import stateless

    events = [{"event": "current", "seat": 1}, {"event": "changed", "seat": 2}]
    server = ControlServer(name, stateless(lambda op, args: {"op": op, **args},
                                           lambda: iter(events)))
    server.start()
    answers = [ControlClient(name).call("echo", a=1), list(ControlClient(name).watch())]
    with control_pipe.connect(name, 5):  # connected, and says nothing
        started = time.monotonic()
        server.stop()
        stop_s = time.monotonic() - started
    try:
        after = ControlClient(name, timeout=2).call("ping")
    except AgentNotRunning as exc:
        after = f"AgentNotRunning: {exc}"
    return {"answers": answers, "stop_s": stop_s, "after": after}


if __name__ == "__main__":
    command, pipe, *more = sys.argv[1:]
    probes = {"acl": acl, "file-acl": file_acl, "stall": stall, "serve": serve, "squat": squat}
    print(json.dumps(probes[command](pipe, *more)), flush=True)
