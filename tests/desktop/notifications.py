"""A stand-in desktop notification server: records each Notify call as a JSON line (a command).

    DBUS_SESSION_BUS_ADDRESS=... python tests/desktop/notifications.py OUT.jsonl

It owns `org.freedesktop.Notifications` on the session bus, as a desktop's notification
daemon does, so a test can read what the agent told the user. It shows buttons (the
"actions" capability, as GNOME's and KDE's do); `Click(id, key)` on its test interface
is a person clicking one: it sends `ActionInvoked` as the desktop would.
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
TEST_INTERFACE = "org.seatkeeper.test.Notifications"
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
  <signal name="ActionInvoked"><arg type="u"/><arg type="s"/></signal>
</interface>
<interface name="{TEST_INTERFACE}">
  <method name="Click"><arg type="u" direction="in"/><arg type="s" direction="in"/></method>
</interface></node>
"""


def main(out: Path) -> int:
    counter = [0]

    def called(connection: Any, sender: str, path: str, interface: str, method: str,
               params: Any, invocation: Any) -> None:
        if method == "Notify":
            app, _, _, summary, body, actions, *_ = params.unpack()
            counter[0] += 1
            record = {"app": app, "summary": summary, "body": body}
            if actions:  # (key, label) pairs, flattened
                record.update(id=counter[0], actions=[list(pair) for pair in
                                                      zip(actions[::2], actions[1::2],
                                                          strict=True)])
            with out.open("a", encoding="utf-8") as log:
                log.write(json.dumps(record) + "\n")
            invocation.return_value(GLib.Variant("(u)", (counter[0],)))
        elif method == "Click":
            connection.emit_signal(None, PATH, NAME, "ActionInvoked", params)
            invocation.return_value(None)
        elif method == "GetCapabilities":
            invocation.return_value(GLib.Variant("(as)", (["body", "actions"],)))
        elif method == "GetServerInformation":
            invocation.return_value(GLib.Variant("(ssss)", ("test", "seatkeeper", "1", "1.2")))
        else:
            invocation.return_value(None)

    node = Gio.DBusNodeInfo.new_for_xml(INTERFACE)
    loop = GLib.MainLoop()

    def on_bus(connection: Any, name: str) -> None:
        for info in node.interfaces:
            connection.register_object(PATH, info, called, None, None)

    Gio.bus_own_name(Gio.BusType.SESSION, NAME, Gio.BusNameOwnerFlags.NONE, on_bus,
                     lambda *_: out.touch(), lambda *_: loop.quit())
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
