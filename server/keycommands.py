"""`seatkeeper-server keys list|rotate|cancel|drop`: the operator's side of the key set."""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from seatkeeper_server.timeutil import system_clock, to_rfc3339

DEFAULT_ROTATE_IN_S = 86400
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def duration(text: str) -> int:
    """`900`, `900s`, `15m`, `24h` or `2d` -> seconds."""
    found = re.fullmatch(r"\s*(\d{1,9})\s*([smhd]?)\s*", text.lower())
    if found is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration: give seconds, or a "
                                         "number with s, m, h or d (e.g. 24h)")
    return int(found[1]) * _UNITS[found[2]]


def add_parser(sub: Any, make: Callable[..., argparse.ArgumentParser]) -> None:
    keys = make(sub, "keys", "the lease-signing keys: list them, rotate to a new one")
    actions = keys.add_subparsers(dest="action", required=True)
    listed = make(actions, "list", "every key with its status (next, current, retired, "
                  "dropped), when it signs from, who endorsed it; never a private key")
    listed.add_argument("--json", action="store_true", help="one JSON array")
    rotate = make(actions, "rotate", "publish a new key as next, endorsed by the current key; "
                  "it becomes current by itself after --in, on every server of the database")
    rotate.add_argument("--in", dest="after", type=duration, metavar="DURATION",
                        default=None, help="how long it is published before it signs leases: "
                        "at least the lease TTL (default: 24h, or the lease TTL if longer)")
    make(actions, "cancel", "withdraw the next key before it becomes current")
    drop = make(actions, "drop", "stop listing a retired key now, before its leases have "
                "ended (a stolen key): agents holding a lease it signed renew it at once")
    drop.add_argument("kid", help="the key id, from `keys list`")


def run(runtime: Any, args: argparse.Namespace, data: Path) -> int:
    """Raises SigningKeyError (the caller prints it) for a refusal."""
    from seatkeeper_server import db
    from seatkeeper_server.services import signing_keys

    engine = runtime.open_engine(args, data, upgrade=False, announce=False)
    sessions = db.session_factory(engine)
    try:
        with sessions.begin() as session:
            now = int(system_clock())
            if args.action == "list":
                return _list(signing_keys.described(signing_keys.load(session), now), args)
            if args.action == "rotate":
                ttl = args.lease_ttl
                after = args.after if args.after is not None else max(ttl, DEFAULT_ROTATE_IN_S)
                if after < ttl:
                    raise signing_keys.SigningKeyError(
                        f"--in {after} s is shorter than the lease TTL ({ttl} s): a key is "
                        "published for at least one lease TTL before it signs, so that "
                        f"every server reads it first. Give --in {ttl} or more (run this "
                        "with the servers' settings: their --lease-ttl is the one that "
                        "counts).")
                new, endorser = signing_keys.rotate(session, now, after)
                print(f"Key {new.kid} is published as next on /v1/keys, endorsed by the "
                      f"current key {endorser.kid}.\nIt signs leases from "
                      f"{to_rfc3339(new.current_from)} (in {_words(after)}): every server "
                      "on this database switches then by itself, with no restart.\nKey "
                      f"{endorser.kid} then retires; it stays listed until every lease it "
                      "signed has ended.", flush=True)
                return 0
            if args.action == "cancel":
                gone = signing_keys.cancel(session, now)
                print(f"Key {gone.kid} is withdrawn; {_current(session, now)} goes on "
                      "signing.", flush=True)
                return 0
            dropped = signing_keys.drop(session, args.kid, now)
            print(f"Key {dropped.kid} is no longer listed: a lease it signed no longer "
                  "verifies; agents online renew theirs at their next heartbeat.", flush=True)
            return 0
    finally:
        engine.dispose()


def _current(session: Any, now: int) -> str:
    from seatkeeper_server.services import signing_keys

    return f"key {signing_keys.signing_record(signing_keys.load(session), now).kid}"


def _list(rows: list[dict[str, object]], args: argparse.Namespace) -> int:
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("No signing keys yet: the server makes (or imports) the first at its first "
              "start.")
        return 0
    columns = ("kid", "status", "current_from", "endorsed_by", "listed_until", "private_key")
    table = [[c.upper().replace("_", " ") for c in columns]]
    table += [[str(row[c] if row[c] is not None else "-") for c in columns] for row in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(columns))]
    for line in table:
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths,
                                                                strict=True)).rstrip())
    return 0


def _words(seconds: int) -> str:
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{n} {unit}" for n, unit in ((days, "d"), (hours, "h"), (minutes, "min"),
                                            (secs, "s")) if n]
    return " ".join(parts) or "0 s"
