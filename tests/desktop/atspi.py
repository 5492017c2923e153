"""Drive the agent's menus and dialogs through AT-SPI, as a screen reader does (a command).

    python tests/desktop/atspi.py click "menu item" "Log out…"   # wait for it, click it
    python tests/desktop/atspi.py find "push button" "OK"         # print its states
    python tests/desktop/atspi.py list                            # the whole tree
    python tests/desktop/atspi.py text "text" "Server address:"   # what a field holds
    python tests/desktop/atspi.py where "text" "Server address:"  # its place on screen

It runs in its own process with DISPLAY and DBUS_SESSION_BUS_ADDRESS of the agent's
session, so that each test's accessibility bus stays apart from the test runner.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from typing import Any

import gi

gi.require_version("Atspi", "2.0")
from gi.repository import Atspi  # noqa: E402

APP = "seatkeeper"
warnings.simplefilter("ignore", DeprecationWarning)  # Atspi's action getters are deprecated


def _children(node: Any) -> list[Any]:
    try:
        return [node.get_child_at_index(i) for i in range(node.get_child_count())]
    except Exception:  # a window closed while it was walked
        return []


def _app() -> Any:
    desktop = Atspi.get_desktop(0)
    for app in _children(desktop):
        if app is not None and app.get_name() == APP:
            return app
    return None


def _walk(node: Any, depth: int = 0) -> Any:
    yield node, depth
    for child in _children(node):
        if child is not None:
            yield from _walk(child, depth + 1)


def _states(node: Any) -> dict[str, bool]:
    states = node.get_state_set()
    return {name: states.contains(getattr(Atspi.StateType, name.upper()))
            for name in ("showing", "sensitive", "checked")}


def find(role: str, name: str) -> Any:
    """The showing node with this role and name in the agent's tree, or None."""
    app = _app()
    if app is None:
        return None
    for node, _ in _walk(app):
        try:
            if node.get_role_name() == role and node.get_name() == name and \
                    _states(node)["showing"]:
                return node
        except Exception:
            continue
    return None


def wait_for(role: str, name: str, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        node = find(role, name)
        if node is not None or time.monotonic() > deadline:
            return node
        time.sleep(0.1)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=("click", "find", "list", "text", "where"))
    parser.add_argument("role", nargs="?", default="")
    parser.add_argument("name", nargs="?", default="")
    parser.add_argument("--timeout", type=float, default=10.0)
    args = parser.parse_args(argv)
    if args.command == "list":
        app = _app()
        for node, depth in _walk(app) if app is not None else ():
            print("  " * depth + f"{node.get_role_name()} {node.get_name()!r} "
                  f"{json.dumps(_states(node))}")
        return 0
    node = wait_for(args.role, args.name, args.timeout)
    if node is None:
        print(f"no showing {args.role} named {args.name!r} in {APP!r}", file=sys.stderr)
        return 1
    if args.command == "find":
        print(json.dumps(_states(node)))
        return 0
    if args.command == "text":
        text = node.get_text_iface()
        print(json.dumps(text.get_text(0, text.get_character_count()) if text else None))
        return 0
    if args.command == "where":
        box = node.get_component_iface().get_extents(Atspi.CoordType.SCREEN)
        print(json.dumps([box.x, box.y, box.width, box.height]))
        return 0
    if not _states(node)["sensitive"]:
        print(f"{args.role} {args.name!r} is greyed out", file=sys.stderr)
        return 1
    action = node.get_action_iface()
    if action is None or not action.do_action(0):
        print(f"{args.role} {args.name!r} could not be clicked", file=sys.stderr)
        return 1
    print("clicked")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
