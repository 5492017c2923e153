"""`seatkeeper-server`: run the license server, or manage accounts and licenses."""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import tempfile
from pathlib import Path
from typing import Any

from seatkeeper_server import __version__, config, errors, keycommands, logs
from seatkeeper_server.timeutil import parse_date, parse_rfc3339

DEFAULT_PORT = 8750
MAX_BORROW_S = 366 * 86400  # as the admin API allows


def data_dir(args: argparse.Namespace | None = None) -> Path:
    """--data-dir, else `$SEATKEEPER_HOME/server`, else the platform's data directory."""
    given = getattr(args, "data_dir", None)
    if given:
        return Path(given).expanduser()
    home = os.environ.get("SEATKEEPER_HOME")
    if home:
        return Path(home).expanduser() / "server"
    import platformdirs

    return Path(platformdirs.user_data_dir("seatkeeper-server", appauthor=False))


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _borrow_seconds(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of seconds") from None
    if not 0 <= value <= MAX_BORROW_S:
        raise argparse.ArgumentTypeError(f"must be 0 to {MAX_BORROW_S} seconds (a year)")
    return value


def _sub(sub: Any, name: str, text: str) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(name, help=text, description=text)
    config.add_options(parser)
    return parser


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="seatkeeper-server", description="The Seatkeeper reference license server. "
        "Without a command it serves (the same as `seatkeeper-server serve`).",
        epilog="The admin token comes from SEATKEEPER_ADMIN_TOKEN or --admin-token-file (at "
               "least 32 characters), or is generated at first start into the file "
               "admin-token in the data directory.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    config.add_options(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _sub(sub, "serve", "serve the API and the portal (the default command)")
    _sub(sub, "migrate", "bring the database schema up to this version, then exit "
         "(safe to run from several places at once)")
    admin = _sub(sub, "admin", "manage accounts and licenses (never migrates the database)")
    actions = admin.add_subparsers(dest="action", required=True)
    for name, text in (("create-account", "create an account"),
                       ("create-admin", "create an administrator's account: it signs in to "
                        "the console at /admin")):
        account = _sub(actions, name, text)
        account.add_argument("--email", required=True)
        account.add_argument("--password-stdin", action="store_true",
                             help="read the password from standard input (else one is "
                             "generated and shown once)")
    reset = _sub(actions, "reset-password", "set a new password for an account (its devices "
                 "stay signed in; its browser sessions end)")
    reset.add_argument("--account", required=True, help="account id or email")
    reset.add_argument("--password-stdin", action="store_true",
                       help="read the password from standard input (else one is generated "
                       "and shown once)")
    lic = _sub(actions, "create-license", "give an account a license")
    lic.add_argument("--account", required=True, help="account id or email")
    lic.add_argument("--name", required=True, help='e.g. "PIX4Dmapper Yearly"')
    lic.add_argument("--kind", choices=("subscription", "perpetual"), default="subscription")
    lic.add_argument("--seats", type=_positive, default=2)
    lic.add_argument("--expires-at", help="subscription end, RFC 3339 (default: no end)")
    lic.add_argument("--support-until", help="perpetual: Support & Upgrade end, YYYY-MM-DD")
    lic.add_argument("--max-borrow-s", type=_borrow_seconds, default=0, metavar="SECONDS",
                     help="longest a seat may be borrowed for offline work (default 0: no "
                     "borrowing; at most 31622400, a year)")
    _sub(actions, "list", "accounts, licenses and seats in use")
    keycommands.add_parser(sub, _sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        config.resolve(args)
    except config.ConfigError as exc:
        print(f"seatkeeper-server: {exc}", file=sys.stderr)
        return 2
    logs.configure(args.log_format, quiet=args.command in ("admin", "keys"))
    if args.command in (None, "serve") and args.workers > 1 and args.metrics_listen:
        # Before prometheus-client is imported: the workers and the supervisor write their
        # metrics to files there, and the supervisor's /metrics adds them up.
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="seatkeeper-metrics-")
    try:
        from seatkeeper_server import runtime  # imports the web stack only when it is needed
        from seatkeeper_server.signing import SigningKeyError
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
        if args.command == "migrate":
            return runtime.migrate(args, data_dir(args))
        if args.command == "keys":
            return keycommands.run(runtime, args, data_dir(args))
        from seatkeeper_server import serving

        return serving.serve(args, data_dir(args))
    except runtime.StartupError as exc:
        print(f"seatkeeper-server: {exc}", file=sys.stderr)
        return 2
    except errors.ApiError as exc:
        print(f"seatkeeper-server: {exc.message}", file=sys.stderr)
        return 1
    except SigningKeyError as exc:
        print(f"seatkeeper-server: {exc}", file=sys.stderr)
        return 1


def _admin(runtime: Any, args: argparse.Namespace) -> int:
    import getpass

    from seatkeeper_server.services import accounts, administration, audit

    context = runtime.open_context(args, data_dir(args), announce=False, signing=False)
    actor = audit.admin(getpass.getuser())
    with context.transaction() as session:
        now = context.now()
        if args.action in ("create-account", "create-admin", "reset-password"):
            given = sys.stdin.readline().rstrip("\n") if args.password_stdin else ""
            password = given or secrets.token_urlsafe(12)
            if args.action == "reset-password":
                found = accounts.find_account(session, args.account)
                if found is None:
                    raise errors.NotFound(f"No account {args.account}.")
                administration.reset_password(session, found.id, password, now, actor=actor)
                print(json.dumps({"id": found.id, "email": found.email}))
            else:
                create = (administration.create_admin if args.action == "create-admin"
                          else accounts.create_account)
                print(json.dumps(create(session, args.email, password, now, actor=actor)))
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

