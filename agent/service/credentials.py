"""The device token: in the OS keyring, or an owner-only file where no keyring works."""

from __future__ import annotations

import configparser
import contextlib
import hashlib
import logging
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from seatkeeper.service.private import write_secret
from seatkeeper.service.secret_helper import ChildCall, ChildKeyring, ChildKeyringError, NoKeyring

log = logging.getLogger(__name__)
SERVICE = "seatkeeper"
# How long the exit waits for a store or delete in flight (the shutdown budget's order).
FINISH_S = 2.0
# The OS's own keyrings, in keyring's order of preference. Only these are tried: keyring's
# own choice imports every backend it knows (libsecret's GObject bindings, KWallet's
# dbus-python, macOS's on Linux...): about 22 MiB and 0.1 s for nothing (docs/benchmarks.md).
SECRET_SERVICE = "keyring.backends.SecretService.Keyring"  # noqa: S105 (a class name)
# The same Secret Service through libsecret's GObject bindings: 3 MiB where GTK is loaded
# already (the tray), against 12 MiB for secretstorage with its cryptography; each reads
# what the other wrote.
LIBSECRET = "keyring.backends.libsecret.Keyring"
KWALLET = "keyring.backends.kwallet.DBusKeyring"
NATIVE = {"win32": ("keyring.backends.Windows.WinVaultKeyring",),
          "darwin": ("keyring.backends.macOS.Keyring",)}


def _candidates() -> tuple[str, ...]:
    if sys.platform in NATIVE:
        return NATIVE[sys.platform]
    # keyring ranks KWallet first on KDE, the Secret Service elsewhere.
    kde = "KDE" in os.environ.get("XDG_CURRENT_DESKTOP", "").split(":")
    secret_service = (LIBSECRET, SECRET_SERVICE) if "gi" in sys.modules else (SECRET_SERVICE,)
    return (KWALLET, *secret_service) if kde else (*secret_service, KWALLET)


def _configured() -> str | None:
    """The backend the user configured for keyring, as keyring's `load_env` and
    `load_config` find it: PYTHON_KEYRING_BACKEND, else keyringrc.cfg's default-keyring
    (its keyring-path added to sys.path). Only the name: loading it may be what costs."""
    name = os.environ.get("PYTHON_KEYRING_BACKEND")
    if name is not None:
        return name
    config = configparser.RawConfigParser()
    if not config.read(_config_file(), encoding="utf-8"):
        return None
    with contextlib.suppress(configparser.Error):
        sys.path.insert(0, os.path.expanduser(config.get("backend", "keyring-path").strip()))
    if not config.has_section("backend"):
        return None
    try:
        return config.get("backend", "default-keyring").strip()
    except configparser.NoOptionError:
        log.warning("keyring's configuration names no default-keyring; ignored")
        return None


def _config_file() -> Path:
    """keyring's keyringrc.cfg. On Linux found as keyring.util.platform_ finds it, without
    importing keyring (1-2 MiB): a daemon that leaves the keyring to a child never needs it."""
    if sys.platform == "linux":
        root = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
        return Path(root, "python_keyring", "keyringrc.cfg")
    from keyring.util import platform_

    return Path(platform_.config_root(), "keyringrc.cfg")


def _costly(name: str) -> bool:
    """Whether loading backend `name` would cost this process much memory, so a child
    does it instead: the Secret Service through secretstorage, KWallet through dbus-python,
    libsecret where GTK is not loaded yet. Only on Linux, and not in a PyInstaller bundle,
    whose executable is no interpreter to run the child's `-m` (see secret_helper)."""
    return sys.platform == "linux" and not getattr(sys, "frozen", False) and (
        name in (SECRET_SERVICE, KWALLET) or (name == LIBSECRET and "gi" not in sys.modules))


def keyring_backend(*, in_child: bool = False) -> Any:
    """The keyring backend to use, or None: the one the user configured for keyring
    (PYTHON_KEYRING_BACKEND, keyringrc.cfg), else the first of the OS's own that works.

    Where the next one to try is costly, a `ChildKeyring`: the child calls this again
    (`in_child`), so both resolve it by the same rules, and it loads what costs."""
    configured = _configured()
    backend = None
    for name in (configured,) if configured is not None else _candidates():
        if not in_child and _costly(name):
            return ChildKeyring()
        try:
            from keyring import core
        except ImportError:
            return None
        try:
            backend = core.load_keyring(name)  # raises when that keyring is not usable
            break
        except Exception as exc:  # keyring backends raise many kinds
            if configured is not None:
                raise  # as keyring's own load_env and load_config do
            log.debug("keyring %s is not usable here: %s", name, exc)
    if backend is None:
        return None
    from keyring.backends import fail

    if isinstance(backend, fail.Keyring) or getattr(backend, "priority", 1) <= 0:
        return None
    return backend


def _reason(exc: Exception) -> str:
    """What the log says of a keyring's failure: never its message, which might quote it."""
    return str(exc) if isinstance(exc, ChildKeyringError) else exc.__class__.__name__


def _child_first() -> bool:
    """Whether the first backend `keyring_backend` would try is a child's: known from the
    environment and keyringrc.cfg alone, nothing loaded."""
    configured = _configured()
    return _costly(configured if configured is not None else _candidates()[0])


class CredentialStore:
    """One device token per data directory (two SEATKEEPER_HOMEs are two devices).

    The file comes first: it holds the token where the keyring refused it, and nothing
    (empty) from a Log Out on, so a delete from the keyring that did not finish is never
    read back. Stores and deletes run on a thread of their own, in order, off the caller's
    way (a keyring's child takes 150-400 ms); `finish` waits for them before the exit.
    """

    def __init__(self, data_dir: Path, *, use_keyring: bool | None = None) -> None:
        self.data_dir = data_dir
        self.file = data_dir / "device-token"
        self.user = "device-token:" + hashlib.sha256(str(data_dir).encode()).hexdigest()[:16]
        # Resolved when a secret is first read or written, not before: keyring costs memory.
        self._use_keyring = use_keyring
        self._backend: Any = None
        self._lock = threading.Lock()
        self._reading: ChildCall | None = None  # `read_ahead`'s child
        self._work: threading.Thread | None = None  # the last store or delete queued
        self._latest = 0  # stores and deletes queued so far: only the latest decides the file
        self._unstored: str | None = None  # the token of a store not done yet

    @property
    def use_keyring(self) -> bool:
        if self._use_keyring is None:
            self._backend = keyring_backend()
            self._use_keyring = self._backend is not None
        return self._use_keyring

    @property
    def backend(self) -> Any:
        """The keyring backend (only when `use_keyring`)."""
        if self._backend is None:
            self._backend = keyring_backend()
        return self._backend

    def read_ahead(self) -> None:
        """Start the child that `load` will ask, now: its interpreter then starts on the
        other core while the daemon imports its own modules. Only where `load` would ask
        it: the file absent, a child's backend the first to try."""
        if self._use_keyring is None and not self.file.exists() and _child_first():
            self._use_keyring, self._backend = True, ChildKeyring()
            self._reading = self._backend.start("get", SERVICE, self.user)

    def save(self, token: str) -> None:
        """Keep `token`: queued for the keyring (the owner-only file if it refuses)."""
        keyring = self.use_keyring
        with self._lock:
            if not keyring:
                self._latest += 1  # a store still ending (its child found no keyring) is older
                self._unstored = None
                self._keep_in_file(token, None)
                return
            self._unstored = token
            self._queue(lambda turn: self._store(token, turn))

    def _store(self, token: str, turn: int) -> None:
        stored, why = False, None
        try:
            self.backend.set_password(SERVICE, self.user, token)
            stored = True
        except NoKeyring:
            self._no_keyring()
        except Exception as exc:  # keyring backends raise many kinds
            why = f"the OS keyring refused the device token ({_reason(exc)})"
        with self._lock:
            if turn != self._latest:
                return  # a Log Out or another login came since: theirs is the file
            self._unstored = None
            if stored:
                with contextlib.suppress(FileNotFoundError):
                    self.file.unlink()
            else:
                self._keep_in_file(token, why)

    def _keep_in_file(self, token: str, why: str | None) -> None:
        """The token in the owner-only file, the log saying why (`why`; None: no keyring)."""
        if why is None:
            log.warning("no OS keyring is available; the device token is kept in %s, "
                        "readable only by you", self.file)
        else:
            log.warning("%s; keeping it in an owner-only file instead", why)
        write_secret(self.file, token)

    def load(self) -> str | None:
        reading, self._reading = self._reading, None
        # The file first: it exists only where the keyring refused the token or after a Log
        # Out, and reading it needs no keyring loaded at all.
        try:
            token: str | None = self.file.read_text(encoding="ascii").strip()
        except (FileNotFoundError, UnicodeDecodeError):
            token = None
        if token is not None or not self.use_keyring:
            if reading is not None:
                reading.cancel()
            return token or None
        try:
            if reading is not None:
                return reading.answer() or None
            return self.backend.get_password(SERVICE, self.user) or None
        except NoKeyring:
            self._no_keyring()
        except Exception as exc:
            log.warning("cannot read the OS keyring (%s)", _reason(exc))
        return None

    def _no_keyring(self) -> None:
        """The child found none: as if resolved here, no keyring from now on."""
        self._use_keyring, self._backend = False, None

    def clear(self) -> None:
        """Forget the token: the empty file at once (read first, so no restart finds the
        token again), its delete from the keyring queued."""
        with self._lock:
            write_secret(self.file, "")
            self._unstored = None
            if self.use_keyring:
                self._queue(self._delete)
            else:
                self._latest += 1

    def _delete(self, _turn: int) -> None:
        try:
            self.backend.delete_password(SERVICE, self.user)
        except NoKeyring:
            self._no_keyring()
        except Exception as exc:  # keyring backends raise many kinds; absent is the goal
            log.debug("the OS keyring did not delete the device token (%s)", _reason(exc))

    def _queue(self, job: Callable[[int], None]) -> None:
        """Run `job(turn)` on a thread of its own once the jobs queued before it are done
        (under the lock)."""
        self._latest += 1
        turn, before = self._latest, self._work

        def run() -> None:
            if before is not None:
                before.join()
            job(turn)

        # Not a daemon thread: an interpreter's exit waits for it, as for the call it was
        # (`seatkeeper login` run without a daemon exits right after its login).
        self._work = threading.Thread(target=run, name="keyring")
        self._work.start()

    def finish(self, timeout_s: float = FINISH_S) -> None:
        """Before the exit: wait for the stores and deletes queued, at most `timeout_s`;
        a token still not stored then goes to the owner-only file."""
        if self._reading is not None:
            self._reading.cancel()
            self._reading = None
        work = self._work
        if work is not None:
            work.join(timeout_s)
        with self._lock:
            if self._unstored is not None:
                self._keep_in_file(self._unstored, "the OS keyring has not stored the device "
                                   f"token in {timeout_s:g} s")
                self._unstored = None
                self._latest += 1  # the store's end, if it comes, leaves the file be
        if isinstance(self._backend, ChildKeyring) and self._backend.running is not None:
            self._backend.running.cancel()  # what is left of it would only hold the exit
