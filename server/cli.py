"""`seatkeeper-server`: run the license server, or manage accounts and licenses."""

from __future__ import annotations

import argparse
import json
import logging
import os
import secrets
import sys
from pathlib import Path
from typing import Any

from seatkeeper_server import __version__, errors
from seatkeeper_server.timeutil import parse_date, parse_rfc3339

DEFAULT_PORT = 8750
MAX_BORROW_S = 366 * 86400  # as the admin API allows
log = logging.getLogger("seatkeeper.server")


def data_dir() -> Path:
    """`$SEATKEEPER_HOME/server`, or the platform's data directory for the server."""
    home = os.environ.get("SEATKEEPER_HOME")
    if home:
        return Path(home).expanduser() / "server"
    import platformdirs

    return Path(platformdirs.user_data_dir("seatkeeper-server", appauthor=False))


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of seconds") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1 second")
    return value


def _borrow_seconds(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of seconds") from None
    if not 0 <= value <= MAX_BORROW_S:
        raise argparse.ArgumentTypeError(f"must be 0 to {MAX_BORROW_S} seconds (a year)")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="seatkeeper-server", description="The Seatkeeper reference license server.",
        epilog="The admin token comes from SEATKEEPER_ADMIN_TOKEN (at least 32 characters), "
               "or is generated at first start into the file admin-token in the data "
               "directory.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--db", help="database URL (default: SQLite in the data directory; "
                        "or postgresql+psycopg://user@host:5432/dbname)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port to listen on")
    parser.add_argument("--lease-ttl", type=_positive, default=900, metavar="SECONDS",
                        help="a lease with no heartbeat for this long is reclaimed")
    parser.add_argument("--heartbeat-interval", type=_positive, default=300, metavar="SECONDS",
                        help="how often agents are told to send a heartbeat")
    parser.add_argument("--device-code-ttl", type=_positive, default=600, metavar="SECONDS",
                        help="how long a browser login's code waits for approval")
    parser.add_argument("--device-poll-interval", type=_positive, default=5, metavar="SECONDS",
                        help="how often a device waiting for approval may ask")
    parser.add_argument("--signing-key", type=Path, metavar="PATH",
                        help="Ed25519 PEM key that signs leases (default: made in the data "
                        "directory at first start)")
    parser.add_argument("--forwarded-allow-ips", metavar="LIST",
                        default=os.environ.get("SEATKEEPERD_FORWARDED_ALLOW_IPS"),
                        help="comma-separated addresses or networks of reverse proxies whose "
                        "X-Forwarded-For/-Proto headers are trusted (environment "
                        "SEATKEEPERD_FORWARDED_ALLOW_IPS; default: none, headers ignored)")
    parser.add_argument("--demo", action="store_true",
                        help="create (once) demo@example.com with a 2-seat license")
    sub = parser.add_subparsers(dest="command")
    admin = sub.add_parser("admin", help="manage accounts and licenses")
    actions = admin.add_subparsers(dest="action", required=True)
    account = actions.add_parser("create-account", help="create an account")
    account.add_argument("--email", required=True)
    account.add_argument("--password-stdin", action="store_true",
                         help="read the password from standard input (else one is generated)")
    lic = actions.add_parser("create-license", help="give an account a license")
    lic.add_argument("--account", required=True, help="account id or email")
    lic.add_argument("--name", required=True, help='e.g. "PIX4Dmapper Yearly"')
    lic.add_argument("--kind", choices=("subscription", "perpetual"), default="subscription")
    lic.add_argument("--seats", type=_positive, default=2)
    lic.add_argument("--expires-at", help="subscription end, RFC 3339 (default: no end)")
    lic.add_argument("--support-until", help="perpetual: Support & Upgrade end, YYYY-MM-DD")
    lic.add_argument("--max-borrow-s", type=_borrow_seconds, default=0, metavar="SECONDS",
                     help="longest a seat may be borrowed for offline work (default 0: no "
                     "borrowing; at most 31622400, a year)")
    actions.add_parser("list", help="accounts, licenses and seats in use")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.heartbeat_interval >= args.lease_ttl:
        parser.error(f"--heartbeat-interval ({args.heartbeat_interval} s) must be shorter than "
                     f"--lease-ttl ({args.lease_ttl} s), or leases lapse between heartbeats")
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        from seatkeeper_server import runtime  # imports the web stack only when it is needed
    except ModuleNotFoundError as exc:
        if (exc.name or "").startswith("seatkeeper"):
            raise
        # The agent's install has no server libraries; the server extra brings them.
        print(f"seatkeeper-server: the license server's libraries are not installed "
              f"({exc.name or exc}): pip install 'seatkeeper[server]'", file=sys.stderr)
        return 2
    try:
        if args.command == "admin":
            return _admin(runtime, args)
        return runtime.serve(args, data_dir())
    except runtime.StartupError as exc:
        print(f"seatkeeper-server: {exc}", file=sys.stderr)
        return 2
    except errors.ApiError as exc:
        print(f"seatkeeper-server: {exc.message}", file=sys.stderr)
        return 1


def _admin(runtime: Any, args: argparse.Namespace) -> int:
    import getpass

    from seatkeeper_server.services import accounts, audit

    context = runtime.open_context(args, data_dir())
    actor = audit.admin(getpass.getuser())
    with context.transaction() as session:
        now = context.now()
        if args.action == "create-account":
            given = sys.stdin.readline().rstrip("\n") if args.password_stdin else ""
            password = given or secrets.token_urlsafe(12)
            print(json.dumps(accounts.create_account(session, args.email, password, now,
                                                     actor=actor)))
            if not given:
                print(f"password (shown once): {password}")
            return 0
        if args.action == "create-license":
            found = accounts.find_account(session, args.account)
            if found is None:
                raise errors.NotFound(f"No account {args.account}: create it first.")
            try:
                expires = None if args.expires_at is None else parse_rfc3339(args.expires_at)
                if args.support_until is not None:
                    parse_date(args.support_until)
            except ValueError as exc:
                raise errors.InvalidRequest(f"--expires-at/--support-until {exc}") from None
            print(json.dumps(accounts.create_license(
                session, found.id, args.name, args.kind, args.seats, expires,
                args.support_until, now, max_borrow_s=args.max_borrow_s, actor=actor)))
            return 0
        print(json.dumps(accounts.overview(session, now), indent=2))
        return 0

