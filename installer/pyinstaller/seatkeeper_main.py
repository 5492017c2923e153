"""The bundle's entry point: `seatkeeper …`, as the installed console script runs it.

seatkeeperw.exe, the Windows bundle's windowed twin started at login, has no console:
what the agent prints when it cannot start (a wrong policy value, say) would go nowhere.
It keeps the end of that output instead and, when the command fails, shows it in a
message box.
"""

import io
import sys
from pathlib import Path

from seatkeeper.cli import main

SHOWN_CHARS = 2000
MB_ICONERROR, MB_SETFOREGROUND = 0x10, 0x10000


class _Tail(io.TextIOBase):
    """A stream that keeps only its last SHOWN_CHARS characters (the agent runs for days)."""

    def __init__(self) -> None:
        self.text = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.text = (self.text + text)[-SHOWN_CHARS:]
        return len(text)


def windowed_main() -> int:
    tail = _Tail()
    sys.stdout = sys.stderr = tail
    code = main()
    if code and tail.text.strip():
        import ctypes

        ctypes.windll.user32.MessageBoxW(None, tail.text.strip(), "Seatkeeper",
                                         MB_ICONERROR | MB_SETFOREGROUND)
    return code


if __name__ == "__main__":
    windowed = Path(sys.executable).name.lower() == "seatkeeperw.exe"
    sys.exit(windowed_main() if windowed else main())
