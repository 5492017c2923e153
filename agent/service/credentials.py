"""The device token: in the OS keyring, or an owner-only file where no keyring works."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
from pathlib import Path

from seatkeeper.service.private import owner_only

log = logging.getLogger(__name__)
SERVICE = "seatkeeper"


def _keyring_usable() -> bool:
    try:
        import keyring
        from keyring.backends import fail
    except ImportError:
        return False
    backend = keyring.get_keyring()
    return not isinstance(backend, fail.Keyring) and getattr(backend, "priority", 1) > 0


class CredentialStore:
    """One device token per data directory (two SEATKEEPER_HOMEs are two devices)."""

    def __init__(self, data_dir: Path, *, use_keyring: bool | None = None) -> None:
        self.data_dir = data_dir
        self.file = data_dir / "device-token"
        self.user = "device-token:" + hashlib.sha256(str(data_dir).encode()).hexdigest()[:16]
        self.use_keyring = _keyring_usable() if use_keyring is None else use_keyring

    def save(self, token: str) -> None:
        if self.use_keyring:
            try:
                import keyring

                keyring.set_password(SERVICE, self.user, token)
                with contextlib.suppress(FileNotFoundError):
                    self.file.unlink()
                return
            except Exception as exc:  # keyring backends raise many kinds
                log.warning("the OS keyring refused the device token (%s); keeping it in "
                            "an owner-only file instead", exc.__class__.__name__)
        else:
            log.warning("no OS keyring is available; the device token is kept in %s, "
                        "readable only by you", self.file)
        _write_private(self.file, token)

    def load(self) -> str | None:
        if self.use_keyring:
            try:
                import keyring

                token = keyring.get_password(SERVICE, self.user)
                if token:
                    return token
            except Exception as exc:
                log.warning("cannot read the OS keyring (%s)", exc.__class__.__name__)
        try:
            return self.file.read_text(encoding="ascii").strip() or None
        except (FileNotFoundError, UnicodeDecodeError):
            return None

    def clear(self) -> None:
        if self.use_keyring:
            try:
                import keyring

                keyring.delete_password(SERVICE, self.user)
            except Exception:  # noqa: S110 (absent is the goal)
                pass
        with contextlib.suppress(FileNotFoundError):
            self.file.unlink()


def _write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read, atomically (never briefly world-readable)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    owner_only(path.parent)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    owner_only(tmp)  # on Windows, before the token is in it
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
