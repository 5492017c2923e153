"""A logind mock on a private system bus, from python-dbusmock, for the shutdown and sleep tests.

    for logind in start_logind(server.db_path):   # (a generator: use it from a fixture)
        logind.wait_for_locks(["shutdown", "sleep"])
        logind.emit("PrepareForShutdown", True)
        logind.drops("shutdown")                  # when each lock was let go, seats free then
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

LOGIND_IFACE = "org.freedesktop.login1.Manager"
MOCK_IFACE = "org.freedesktop.DBus.Mock"
TEMPLATE = Path(__file__).with_name("logind_probe.py")


class Logind:
    """The running mock: emit its signals, list its locks, read what it saw let go."""

    def __init__(self, address: str, mock: Any) -> None:
        self.address = address
        self.mock = mock

    def emit(self, member: str, value: bool) -> float:
        """Emit PrepareForShutdown/PrepareForSleep(value); returns the time it was sent."""
        sent = time.time()
        self.mock.obj.EmitSignal(LOGIND_IFACE, member, "b", [value], dbus_interface=MOCK_IFACE)
        return sent

    def emit_network(self) -> None:
        self.mock.obj.EmitSignal("org.freedesktop.NetworkManager", "StateChanged", "u", [70],
                                 dbus_interface=MOCK_IFACE)

    def locks(self) -> list[str]:
        return sorted(str(row[0]) for row in
                      self.mock.obj.ListInhibitors(dbus_interface=LOGIND_IFACE)
                      if row[1] == "Seatkeeper")

    def drops(self, what: str) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = json.loads(self.mock.obj.Drops(dbus_interface=MOCK_IFACE))
        return [row for row in rows if row["what"] == what]

    def wait_for_locks(self, expected: list[str], timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while self.locks() != expected:
            assert time.monotonic() < deadline, f"locks {self.locks()} != {expected}"
            time.sleep(0.05)


def start_logind(db_path: Path) -> Iterator[Logind]:
    """A private system bus (it sets DBUS_SYSTEM_BUS_ADDRESS here while it runs) and the mock."""
    from dbusmock.testcase import BusType, PrivateDBus, SpawnedMock

    env = BusType.SYSTEM.environ[0]
    before = os.environ.get(env)
    bus = PrivateDBus(BusType.SYSTEM)
    bus.start()
    try:
        with SpawnedMock.spawn_with_template(str(TEMPLATE), {"probe_db": str(db_path)},
                                             bustype=BusType.SYSTEM) as mock:
            yield Logind(bus.address, mock)
    finally:
        bus.stop()
        if before is None:
            os.environ.pop(env, None)
        else:
            os.environ[env] = before
