"""The keyring's calls made by a short-lived child process, so the daemon never loads them.

keyring's Secret Service backend brings secretstorage, jeepney and cryptography (12.5 MiB,
docs/benchmarks.md), KWallet's dbus-python with GLib's main loop: memory the long-lived
daemon would keep for three calls in its life (read at start, write at login, delete at
logout). `ChildKeyring` has the three calls of a keyring backend and makes each in
`python -m seatkeeper.service.secret_helper`, which resolves the backend with the same
function the daemon uses (`credentials.keyring_backend`) and exits. Each child is a
`ChildCall`, started at once and its answer read when wanted: the daemon's start has the
token read that way beside its own imports (`CredentialStore.read_ahead`).

The secret crosses only the pipes: one JSON line on the child's stdin, one on its stdout;
never its command line or environment, which other users may read (/proc/PID/cmdline).
Only on Linux, from a Python installation: `-m` needs an interpreter, which a PyInstaller
bundle's executable (the Windows one, or Linux's) is not, so a bundle loads the backend
in-process as before. The Windows and macOS backends stay in-process everywhere: they
bring neither cryptography nor a D-Bus library (not measured here).
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
from typing import Any

# Long enough for a Secret Service that asks the user to unlock the keyring, short enough
# that a keyring that never answers does not hold the agent's start for long.
TIMEOUT_S = 30.0


class ChildKeyringError(Exception):
    """The child did not do it: its reason, never the secret (the log shows it)."""


class NoKeyring(ChildKeyringError):
    """The child found no keyring that works here: the token goes to the owner-only file."""


class ChildKeyring:
    """keyring's get/set/delete_password, each in a child process of this interpreter."""

    def __init__(self, timeout_s: float | None = None) -> None:
        self.timeout_s = TIMEOUT_S if timeout_s is None else timeout_s
        self.running: ChildCall | None = None  # the last call made through the three below

    def get_password(self, service: str, username: str) -> str | None:
        answer: str | None = self._ask("get", service, username)
        return answer

    def set_password(self, service: str, username: str, password: str) -> None:
        self._ask("set", service, username, password)

    def delete_password(self, service: str, username: str) -> None:
        self._ask("delete", service, username)

    def _ask(self, op: str, service: str, username: str, secret: str | None = None) -> Any:
        self.running = self.start(op, service, username, secret)
        return self.running.answer()

    def start(self, op: str, service: str, username: str,
              secret: str | None = None) -> ChildCall:
        """The child started now, its answer collected later (`ChildCall.answer`)."""
        request = json.dumps({"op": op, "service": service, "username": username,
                              "secret": secret})
        return ChildCall(request, self.timeout_s)


class ChildCall:
    """One child at work: started at once, so its interpreter's start overlaps the
    caller's own work; its one-line answer read when wanted, within the timeout."""

    def __init__(self, request: str, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self._deadline = time.monotonic() + timeout_s
        self._failure: ChildKeyringError | None = None
        try:
            self._proc = subprocess.Popen(  # -P: nothing imported from the current folder
                [sys.executable, "-P", "-m", "seatkeeper.service.secret_helper"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                text=True)
        except OSError as exc:
            self._failure = ChildKeyringError(f"cannot start it: {exc.__class__.__name__}")
            return
        assert self._proc.stdin is not None
        # One short line: the pipe's buffer takes it whole, whether the child reads yet or not.
        with contextlib.suppress(OSError):  # a child that died already: its status says so
            self._proc.stdin.write(request + "\n")
        with contextlib.suppress(OSError):
            self._proc.stdin.close()

    def answer(self) -> Any:
        """The child's reply (a secret, or None); ChildKeyringError when it did not do it."""
        if self._failure is not None:
            raise self._failure
        try:
            self._proc.wait(max(0.0, self._deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.cancel()
            raise ChildKeyringError(f"no answer within {self.timeout_s:g} s") from None
        assert self._proc.stdout is not None
        with self._proc.stdout:  # its one line was written before it exited
            out = self._proc.stdout.read()
        try:
            reply = json.loads(out)
        except ValueError:
            reply = None
        if not isinstance(reply, dict):
            raise ChildKeyringError(f"exit status {self._proc.returncode}")
        if reply.get("none"):
            raise NoKeyring("no OS keyring works here")
        if "error" in reply:
            raise ChildKeyringError(str(reply["error"]))
        return reply.get("secret")

    def cancel(self) -> None:
        """Stop the child, its answer no longer wanted."""
        if self._failure is None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()


def serve(request: dict[str, Any]) -> dict[str, Any]:
    """Do one request with the backend the daemon would have loaded; the reply to send."""
    from seatkeeper.service.credentials import keyring_backend

    try:
        backend = keyring_backend(in_child=True)
        if backend is None:
            return {"none": True}
        service, username = request["service"], request["username"]
        if request["op"] == "get":
            return {"secret": backend.get_password(service, username)}
        if request["op"] == "set":
            backend.set_password(service, username, request["secret"])
        else:
            backend.delete_password(service, username)
        return {}
    except Exception as exc:  # keyring backends raise many kinds; the name says which
        return {"error": exc.__class__.__name__}


def main() -> int:
    reply = serve(json.loads(sys.stdin.readline()))
    sys.stdout.write(json.dumps(reply) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
