"""A licensed application in its own process, using `seatkeeper.sdk` (the scenario tests').

    python -m tests.support.sdk_app APP VERSION [RELEASED] [--public-key KEY]
                                    [--clock-slack S] [--raising-callback]

It opens a session at SEATKEEPER_LOCAL_API (or the agent's own address), prints
`{"opened": session_id, "holding": …}` and then every SeatEvent as one JSON line, and
closes its session when its stdin says `close` (or ends). A test may SIGKILL it instead.
Its stdin may also say `seat` (refresh, print it), `holding` (print `holding` as it is
now) or `pending` (print the kinds `events()` yields within 0.3 s).
"""

from __future__ import annotations

import argparse
import json
import sys
import threading

from seatkeeper.sdk import LocalApiError, SeatEvent, SeatSession

# The SDK calls on_event on its watch thread: one line at a time, whole, and the
# "opened" line first (the main thread holds the lock from open() until it is printed).
_printing = threading.RLock()


def _print(data: dict[str, object]) -> None:
    with _printing:
        sys.stdout.write(json.dumps(data) + "\n")
        sys.stdout.flush()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("app")
    parser.add_argument("version")
    parser.add_argument("released", nargs="?")
    parser.add_argument("--public-key")
    parser.add_argument("--clock-slack", type=float, default=60.0)
    parser.add_argument("--raising-callback", action="store_true",
                        help="the callback raises after printing (the SDK must carry on)")
    args = parser.parse_args()

    def told(event: SeatEvent) -> None:
        _print({"event": event.kind, "holding": bool(event.seat and event.seat["holding"]),
                "state": event.seat and event.seat["state"], "message": event.message})
        if args.raising_callback:
            raise RuntimeError("the application's callback has a bug")

    with _printing:
        try:
            session = SeatSession(args.app, args.version, released=args.released,
                                  public_key=args.public_key, on_event=told,
                                  clock_slack_s=args.clock_slack).open()
        except LocalApiError as exc:
            _print({"refused": exc.code, "message": exc.message})
            return 2
        seat = session.seat or {}
        _print({"opened": session.session_id, "holding": session.holding,
                "state": seat.get("state"), "seat_mode": seat.get("seat_mode")})
    for line in sys.stdin:
        if line.strip() == "close":
            break
        if line.strip() == "seat":
            seat = session.refresh()
            _print({"seat": seat, "holding": session.holding,
                    "session_id": session.session_id})
        if line.strip() == "holding":
            _print({"holding_now": session.holding})
        if line.strip() == "pending":
            _print({"pending": [event.kind for event in session.events(timeout=0.3)]})
    session.close()
    _print({"closed": True})
    return 0


if __name__ == "__main__":
    sys.exit(main())
