"""The device token: in the OS keyring, or an owner-only file where no keyring works."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import sys
from pathlib import Path
from typing import Any

from seatkeeper.service.private import write_secret

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


def _keyring_backend() -> Any:
    """The keyring backend to use, or None: the one the user configured for keyring
    (PYTHON_KEYRING_BACKEND, keyringrc.cfg), else the first of the OS's own that works."""
    try:
        from keyring import core
        from keyring.backends import fail
    except ImportError:
        return None
    backend = core.load_env() or core.load_config()
    if backend is None:
        for name in _candidates():
            try:
                backend = core.load_keyring(name)  # raises when that keyring is not usable
                break
            except Exception as exc:  # keyring backends raise many kinds
                log.debug("keyring %s is not usable here: %s", name, exc)
    if backend is None or isinstance(backend, fail.Keyring) or \
            getattr(backend, "priority", 1) <= 0:
        return None
    return backend


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
            self._backend = _keyring_backend()
            self._use_keyring = self._backend is not None
        return self._use_keyring

    @property
    def backend(self) -> Any:
        """The keyring backend (only when `use_keyring`)."""
        if self._backend is None:
            self._backend = _keyring_backend()
        return self._backend

    def save(self, token: str) -> None:
        if self.use_keyring:
            try:
                self.backend.set_password(SERVICE, self.user, token)
                with contextlib.suppress(FileNotFoundError):
                    self.file.unlink()
                return
            except Exception as exc:  # keyring backends raise many kinds
                log.warning("the OS keyring refused the device token (%s); keeping it in "
                            "an owner-only file instead", exc.__class__.__name__)
        else:
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
        except Exception as exc:
            log.warning("cannot read the OS keyring (%s)", exc.__class__.__name__)
            return None

    def clear(self) -> None:
        if self.use_keyring:
            with contextlib.suppress(Exception):  # absent is the goal
                self.backend.delete_password(SERVICE, self.user)
        with contextlib.suppress(FileNotFoundError):
            self.file.unlink()
