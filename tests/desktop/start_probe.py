"""`seatkeeper run` itself, watched at its start (a command, for tests/desktop/test_tray_start.py).

    python tests/desktop/start_probe.py RECORD GATE run

- RECORD: the moment the tray sets its icon visible, the names of every module loaded
  then are written there (a JSON list), from the thread that shows it;
- GATE: the agent's build (the runner's `_build`: its modules, token, lease, outbox and
  control socket) waits until this file exists, as a slow disk or keyring would make it
  wait; the icon's loop runs meanwhile.

Nothing else is changed: the rest is the agent's own command line and start-up.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

import seatkeeper.runner
import seatkeeper.tray.starting
from seatkeeper import cli


def watch_icon(record: Path) -> None:
    """Write the loaded modules to `record` when pystray's icon is first set visible."""
    load = seatkeeper.tray.starting.load_pystray
    written = threading.Event()

    def load_and_watch(backend: str) -> Any:
        pystray = load(backend)
        base = next(cls for cls in type.mro(pystray.Icon) if "visible" in vars(cls))
        shown = vars(base)["visible"]

        def set_visible(icon: Any, value: bool) -> None:
            if value and not written.is_set():
                written.set()
                record.write_text(json.dumps(sorted(list(sys.modules))))
            shown.fset(icon, value)

        setattr(base, "visible", property(shown.fget, set_visible))  # noqa: B010
        return pystray

    seatkeeper.tray.starting.load_pystray = load_and_watch


def hold_build(gate: Path) -> None:
    build = seatkeeper.runner._build

    def gated(*args: Any, **kw: Any) -> Any:
        while not gate.exists():
            time.sleep(0.05)
        return build(*args, **kw)

    seatkeeper.runner._build = gated


def main(argv: list[str]) -> int:
    watch_icon(Path(argv[0]))
    hold_build(Path(argv[1]))
    return cli.main(argv[2:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
