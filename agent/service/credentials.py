"""The device token: in the OS keyring, or an owner-only file where no keyring works."""

from __future__ import annotations

import configparser
import contextlib
import hashlib
import logging
import os
import sys
from pathlib import Path
from typing import Any

from seatkeeper.service.private import write_secret
from seatkeeper.service.secret_helper import ChildKeyring, ChildKeyringError, NoKeyring

log = logging.getLogger(__name__)
SERVICE = "seatkeeper"
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


class CredentialStore:
    """One device token per data directory (two SEATKEEPER_HOMEs are two devices)."""

    def __init__(self, data_dir: Path, *, use_keyring: bool | None = None) -> None:
        self.data_dir = data_dir
        self.file = data_dir / "device-token"
        self.user = "device-token:" + hashlib.sha256(str(data_dir).encode()).hexdigest()[:16]
        # Resolved when a secret is first read or written, not before: keyring costs memory.
        self._use_keyring = use_keyring
        self._backend: Any = None

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

    def save(self, token: str) -> None:
        if self.use_keyring:
            try:
                self.backend.set_password(SERVICE, self.user, token)
                with contextlib.suppress(FileNotFoundError):
                    self.file.unlink()
                return
            except NoKeyring:
                self._no_keyring()
            except Exception as exc:  # keyring backends raise many kinds
                log.warning("the OS keyring refused the device token (%s); keeping it in "
                            "an owner-only file instead", _reason(exc))
                write_secret(self.file, token)
                return
        log.warning("no OS keyring is available; the device token is kept in %s, "
                    "readable only by you", self.file)
        write_secret(self.file, token)

    def load(self) -> str | None:
        # The file first: it exists only where the keyring refused the token (`save`
        # removes it otherwise), and reading it needs no keyring loaded at all.
        try:
            token = self.file.read_text(encoding="ascii").strip() or None
        except (FileNotFoundError, UnicodeDecodeError):
            token = None
        if token is not None or not self.use_keyring:
            return token
        try:
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
        if self.use_keyring:
            try:
                self.backend.delete_password(SERVICE, self.user)
            except NoKeyring:
                self._no_keyring()
            except Exception as exc:  # keyring backends raise many kinds; absent is the goal
                log.debug("the OS keyring did not delete the device token (%s)", _reason(exc))
        with contextlib.suppress(FileNotFoundError):
            self.file.unlink()
