"""A stand-in desktop notification server: records each Notify call as a JSON line (a command).

    DBUS_SESSION_BUS_ADDRESS=... python tests/desktop/notifications.py OUT.jsonl

It owns `org.freedesktop.Notifications` on the session bus, as a desktop's notification
daemon does, so a test can read what the agent told the user.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import gi

gi.require_version("Gio", "2.0")
from gi.repository import Gio, GLib  # noqa: E402

NAME = "org.freedesktop.Notifications"
PATH = "/org/freedesktop/Notifications"
INTERFACE = f"""
<node><interface name="{NAME}">
  <method name="Notify">
    <arg type="s" direction="in"/><arg type="u" direction="in"/><arg type="s" direction="in"/>
    <arg type="s" direction="in"/><arg type="s" direction="in"/><arg type="as" direction="in"/>
    <arg type="a{{sv}}" direction="in"/><arg type="i" direction="in"/>
    <arg type="u" direction="out"/>
  </method>
  <method name="CloseNotification"><arg type="u" direction="in"/></method>
  <method name="GetCapabilities"><arg type="as" direction="out"/></method>
  <method name="GetServerInformation">
    <arg type="s" direction="out"/><arg type="s" direction="out"/>
    <arg type="s" direction="out"/><arg type="s" direction="out"/>
  </method>
</interface></node>
"""


def main(out: Path) -> int:
    counter = [0]

    def called(connection: Any, sender: str, path: str, interface: str, method: str,
               params: Any, invocation: Any) -> None:
        if method == "Notify":
            app, _, _, summary, body, *_ = params.unpack()
            counter[0] += 1
            with out.open("a", encoding="utf-8") as log:
                log.write(json.dumps({"app": app, "summary": summary, "body": body}) + "\n")
            invocation.return_value(GLib.Variant("(u)", (counter[0],)))
        elif method == "GetCapabilities":
            invocation.return_value(GLib.Variant("(as)", (["body"],)))
        elif method == "GetServerInformation":
            invocation.return_value(GLib.Variant("(ssss)", ("test", "seatkeeper", "1", "1.2")))
        else:
            invocation.return_value(None)

    info = Gio.DBusNodeInfo.new_for_xml(INTERFACE).interfaces[0]
    loop = GLib.MainLoop()

    def on_bus(connection: Any, name: str) -> None:
        connection.register_object(PATH, info, called, None, None)

    Gio.bus_own_name(Gio.BusType.SESSION, NAME, Gio.BusNameOwnerFlags.NONE, on_bus,
                     lambda *_: out.touch(), lambda *_: loop.quit())
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
