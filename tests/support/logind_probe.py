"""A logind mock (dbusmock's template) whose delay locks note, when let go, which seats were free.

`Inhibit` hands out the write end of a pipe, as the stock template does; when the
holder closes it, the mock reads the server's database at that very moment and
keeps the ids of the leases released by then, with the time. `Drops()` returns
those records as JSON, so a test can tell whether the seat was released *before*
the lock was let go.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from typing import Any

import dbus
import dbus.service
from dbusmock.templates import logind as base
from gi.repository import GLib

BUS_NAME = base.BUS_NAME
MAIN_OBJ = base.MAIN_OBJ
MAIN_IFACE = base.MAIN_IFACE
SYSTEM_BUS = base.SYSTEM_BUS
MOCK_IFACE = "org.freedesktop.DBus.Mock"

held: list[tuple[str, str, str, str, int, int]] = []
drops: list[dict[str, Any]] = []
probe: dict[str, str] = {}


def load(mock: Any, parameters: dict[str, Any]) -> None:
    base.load(mock, parameters)
    probe["db"] = str(parameters.get("probe_db", ""))


def _released_leases() -> list[str]:
    if not probe.get("db"):
        return []
    with sqlite3.connect(f"file:{probe['db']}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT id FROM leases WHERE released_at IS NOT NULL").fetchall()
    return [str(row[0]) for row in rows]


@dbus.service.method(MAIN_IFACE, in_signature="ssss", out_signature="h")
def Inhibit(_: Any, what: str, who: str, why: str, mode: str) -> int:
    fd_r, fd_w = os.pipe()
    record = (str(what), str(who), str(why), str(mode), 1000, 123456)
    held.append(record)

    def dropped(fd: int, _cond: Any) -> bool:
        drops.append({"what": str(what), "at": time.time(), "released": _released_leases()})
        os.close(fd)
        held.remove(record)
        return False

    GLib.unix_fd_add_full(GLib.PRIORITY_HIGH, fd_r, GLib.IO_HUP, dropped)
    GLib.idle_add(os.close, fd_w)
    return fd_w


@dbus.service.method(MAIN_IFACE, in_signature="", out_signature="a(ssssuu)")
def ListInhibitors(_: Any) -> list[tuple[str, str, str, str, int, int]]:
    return list(held)


@dbus.service.method(MOCK_IFACE, in_signature="", out_signature="s")
def Drops(_: Any) -> str:
    return json.dumps(drops)
