"""The server's clock as far as this device knows it: a lower bound kept on disk.

Lease expiry is judged on the server's clock, estimated as the local clock plus the
skew measured at the last answer. Offline, turning the local clock back would turn
that estimate back too and stretch a lease. So the agent also keeps a floor: the
latest server time it has seen (in a signed lease), advanced by the monotonic clock
while the process runs, written to `server-time.json` in the data folder (on every
new server time, at most every `SAVE_EVERY_S` as it advances, and at stop). After a
restart the floor starts from the file: time spent powered off is not counted, so a
lease may then end later than on the server, but never later than its own remaining
time as of the moment the agent last ran.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path

from seatkeeper.core.errors import StorageError
from seatkeeper.core.wire import format_time, parse_time
from seatkeeper.service.private import write_secret

log = logging.getLogger(__name__)

FILE = "server-time.json"
SAVE_EVERY_S = 10.0


class ServerClock:
    """`seen(server_time)` raises the floor; `floor()` is the server's time at least now."""

    def __init__(self, data_dir: Path, *,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.path = data_dir / FILE
        self._monotonic = monotonic
        self._base = _load(self.path)
        self._base_at = monotonic()
        self._saved_at = self._base_at

    def seen(self, server_time: dt.datetime) -> None:
        """An answer from the server said it was `server_time`: the floor is at least that."""
        current = self.floor()
        if current is None or server_time > current:
            self._base, self._base_at = server_time, self._monotonic()
            self.save()

    def forget(self) -> None:
        """A new login (perhaps to another server): its clock is learnt afresh."""
        self._base = None
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def floor(self) -> dt.datetime | None:
        """The latest server time seen, plus the time this process has run since."""
        if self._base is None:
            return None
        return self._base + dt.timedelta(seconds=max(0.0, self._monotonic() - self._base_at))

    def save_if_due(self) -> None:
        """Keep the advancing floor on disk, at most every SAVE_EVERY_S."""
        if self._base is not None and self._monotonic() - self._saved_at >= SAVE_EVERY_S:
            self.save()

    def save(self) -> None:
        floor = self.floor()
        if floor is None:
            return
        self._saved_at = self._monotonic()
        try:
            write_secret(self.path, json.dumps({"server_time_at_least": format_time(floor)}))
        except StorageError as exc:
            log.warning("cannot keep the server's time: %s", exc)


def _load(path: Path) -> dt.datetime | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return parse_time(data["server_time_at_least"])
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        log.warning("%s is unreadable; the server's time is known again at the next answer",
                    path)
        return None
