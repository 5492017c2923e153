"""Run by the Windows CPython under Wine: an application using seatkeeper.sdk over the pipe.

    python sdk_probe.py  (SEATKEEPER_HOME as the agent's)

Prints one JSON line: the address the SDK found (by the agent's rule and by its own),
whether the session held the seat, the sessions the agent listed, how long closing took
and the sessions left after.
"""

from __future__ import annotations

import json
import os
import sys
import time

from seatkeeper.sdk import Channel, SeatSession, find_agent
from seatkeeper.sdk.channel import _own_rule


def main() -> int:
    address = find_agent()
    result: dict[str, object] = {"address": address, "own_rule": _own_rule(dict(os.environ))}
    with SeatSession("PIX4Dmapper", "4.9.0", released="2026-01-15") as seat:
        result["holding"] = seat.holding
        with Channel(address) as other:
            result["sessions"] = [s["app"] for s in other.request("seat")["sessions"]]
        started = time.monotonic()
    result["close_s"] = time.monotonic() - started
    with Channel(address) as other:
        result["after"] = other.request("seat")["sessions"]
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
