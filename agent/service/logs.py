"""Rotating logs in the platform's log directory, with secrets scrubbed from every record."""

from __future__ import annotations

import logging
import logging.handlers
import os
import re
from pathlib import Path

from seatkeeper.service.private import owner_only

LOG_FILE = "seatkeeper.log"
# Device, release and admin tokens, bearer headers, and password fields in any text.
_SECRETS = re.compile(
    r"(?P<token>\bsk[adr]_[A-Za-z0-9_\-]{8,})"
    r"|(?P<bearer>Bearer\s+)\S+"
    r"|(?P<field>(?:password|token|release_token)[\"']?\s*[:=]\s*[\"']?)[^\s\"',}]+",
    re.IGNORECASE,
)


def scrub(text: str) -> str:
    """Replace anything that looks like a secret with `***`."""
    def _mask(match: re.Match[str]) -> str:
        return (match.group("bearer") or match.group("field") or "") + "***"
    return _SECRETS.sub(_mask, text)


class ScrubSecrets(logging.Filter):
    """Formats the record once, scrubbed, so no handler can print a token."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = scrub(message)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub(record.exc_text)
        if clean != message or record.args:
            record.msg, record.args = clean, None
        return True


def setup(log_dir: Path, level: str = "INFO", *, to_stderr: bool = False) -> Path:
    """Log to a rotating, owner-only file (and stderr if asked); returns the file's path."""
    log_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(log_dir, 0o700)
    owner_only(log_dir)
    path = log_dir / LOG_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.close(fd)
    owner_only(path)
    handler = logging.handlers.RotatingFileHandler(path, maxBytes=1_000_000, backupCount=5,
                                                   encoding="utf-8")
    handlers: list[logging.Handler] = [handler]
    if to_stderr:
        handlers.append(logging.StreamHandler())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    formatter = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    for each in handlers:
        each.setFormatter(formatter)
        each.addFilter(ScrubSecrets())
        root.addHandler(each)
    root.setLevel(level)
    # urllib3 logs request lines at DEBUG; keep third-party chatter out of the user's log.
    for noisy in ("urllib3", "apscheduler", "PIL"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return path
