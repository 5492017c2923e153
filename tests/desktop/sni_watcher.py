"""A stand-in StatusNotifierWatcher (the AppIndicator host's registry), as a command.

    DBUS_SESSION_BUS_ADDRESS=... python tests/desktop/sni_watcher.py OUT.jsonl

It owns `org.kde.StatusNotifierWatcher` on the session bus, says a host is registered
(so libayatana-appindicator exports its item instead of falling back to the XEmbed
tray), and records each registered item as a JSON line `{"sender", "service"}`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import gi

gi.require_version("Gio", "2.0")
from gi.repository import Gio, GLib  # noqa: E402

NAME = "org.kde.StatusNotifierWatcher"
PATH = "/StatusNotifierWatcher"
INTERFACE = f"""
<node><interface name="{NAME}">
  <method name="RegisterStatusNotifierItem"><arg type="s" direction="in"/></method>
  <method name="RegisterStatusNotifierHost"><arg type="s" direction="in"/></method>
  <property name="RegisteredStatusNotifierItems" type="as" access="read"/>
  <property name="IsStatusNotifierHostRegistered" type="b" access="read"/>
  <property name="ProtocolVersion" type="i" access="read"/>
  <signal name="StatusNotifierItemRegistered"><arg type="s"/></signal>
  <signal name="StatusNotifierItemUnregistered"><arg type="s"/></signal>
  <signal name="StatusNotifierHostRegistered"/>
</interface></node>
"""


def main(out: Path) -> int:
    items: list[str] = []

    def called(connection: Any, sender: str, path: str, interface: str, method: str,
               params: Any, invocation: Any) -> None:
        if method == "RegisterStatusNotifierItem":
            (service,) = params.unpack()
            items.append(f"{sender}{service}" if service.startswith("/") else service)
            with out.open("a", encoding="utf-8") as log:
                log.write(json.dumps({"sender": sender, "service": service}) + "\n")
            connection.emit_signal(None, PATH, NAME, "StatusNotifierItemRegistered",
                                   GLib.Variant("(s)", (items[-1],)))
        invocation.return_value(None)

    def get_property(connection: Any, sender: str, path: str, interface: str,
                     name: str) -> Any:
        return {"RegisteredStatusNotifierItems": GLib.Variant("as", items),
                "IsStatusNotifierHostRegistered": GLib.Variant("b", True),
                "ProtocolVersion": GLib.Variant("i", 0)}[name]

    info = Gio.DBusNodeInfo.new_for_xml(INTERFACE).interfaces[0]
    loop = GLib.MainLoop()

    def on_bus(connection: Any, name: str) -> None:
        connection.register_object(PATH, info, called, get_property, None)

    Gio.bus_own_name(Gio.BusType.SESSION, NAME, Gio.BusNameOwnerFlags.NONE, on_bus,
                     lambda *_: out.touch(), lambda *_: loop.quit())
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
