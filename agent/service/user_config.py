"""The user's own config.toml, changed by the agent: one key set, the rest of the file kept.

tomlkit edits the document in place, so the person's comments, blank lines, key order
and quoting survive; only the key that changed is written anew. The file is replaced
atomically and owner-only (`write_secret`: a temporary file, synced, renamed), so a
crash leaves the old file or the new one, never half of each. A file that is not
valid TOML is never overwritten: the person's edits in it would be lost.
"""

from __future__ import annotations

import logging
from pathlib import Path

import tomlkit
import tomlkit.exceptions
from seatkeeper.core.errors import ConfigError
from seatkeeper.service.private import write_secret

log = logging.getLogger(__name__)


def _target(path: Path) -> Path:
    """The file to write: a symbolic link's target (a dotfiles checkout keeps its link)."""
    return path.resolve() if path.is_symlink() else path


def _document(path: Path) -> tomlkit.TOMLDocument:
    """The file as tomlkit reads it (empty when there is none); ConfigError names a fault."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return tomlkit.document()
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text; fix the file or move it away, then try "
                          "again.") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror}); check its "
                          "permissions.") from None
    try:
        return tomlkit.parse(text)
    except tomlkit.exceptions.TOMLKitError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc}); fix the file or move it away, "
                          "then try again. It was left as it is.") from None


def check_writable(path: Path) -> None:
    """Fail now, before any question is asked of the server, if `set_value` would fail."""
    _document(_target(path))


def set_value(path: Path, key: str, value: str | int | float | bool) -> None:
    """Set the top-level `key` of the config file at `path` (made if missing) to `value`."""
    target = _target(path)
    document = _document(target)
    if document.get(key) == value:
        return
    document[key] = value
    write_secret(target, tomlkit.dumps(document))
    log.info("set %s in %s", key, target)
