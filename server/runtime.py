"""Start-up: database and migrations, signing key, admin token, demo account."""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import secrets
import threading
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from seatkeeper_server import db, security
from seatkeeper_server.context import Context
from seatkeeper_server.services import accounts, auth, signing_keys
from seatkeeper_server.services.device_grant import GrantTerms
from seatkeeper_server.services.seats import LeaseTerms
from seatkeeper_server.signing import SigningKeyError
from seatkeeper_server.timeutil import system_clock
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

log = logging.getLogger("seatkeeper.server")
DEMO_EMAIL = "demo@example.com"
MIN_ADMIN_TOKEN = 32
ADMIN_TOKEN_FILE = "admin-token"  # noqa: S105 (a file name, not a secret)


def forwarded_allow_ips(text: str | None) -> list[str]:
    """`10.0.0.5, 192.168.1.0/24` -> the addresses and networks whose X-Forwarded-For is true.

    Empty (the default): no proxy is trusted. `*` trusts every client: only for a server
    that nothing but its proxy can reach.
    """
    entries = [item.strip() for item in (text or "").split(",") if item.strip()]
    for entry in entries:
        if entry == "*":
            continue
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise StartupError(
                f"--forwarded-allow-ips: {entry!r} is not an IP address or network; give the "
                "reverse proxy's addresses, e.g. 127.0.0.1 or 10.0.0.0/8, comma-separated"
            ) from None
    return entries


class StartupError(RuntimeError):
    """The server cannot start; the message says what to fix."""


def database_url(args: argparse.Namespace, data: Path) -> str:
    return str(args.db or f"sqlite:///{data / 'server.db'}")


def open_engine(args: argparse.Namespace, data: Path, *, upgrade: bool,
                announce: bool = True) -> Engine:
    """The database, its schema created if it was empty and upgraded only if `upgrade`."""
    url = database_url(args, data)
    try:
        engine = db.make_engine(url)
        state = db.ensure_schema(engine, upgrade=upgrade)
    except (db.DatabaseURLError, db.SchemaError) as exc:
        raise StartupError(str(exc)) from None
    except (SQLAlchemyError, OSError) as exc:
        # One line: drivers spread their reasons over several (psycopg's hints, for one).
        reason = " ".join(str(getattr(exc, "orig", None) or exc).split())
        raise StartupError(f"cannot open the database {redact(url)}: {exc.__class__.__name__}: "
                           f"{reason}. Check --db and that the database server is "
                           "running.") from None
    if state != "current" and announce:
        print(f"Database schema {'created' if state == 'empty' else 'upgraded'}: now at "
              f"revision {db.head_revision()}.", flush=True)
    return engine


class _NoSigner:
    """The `admin` commands' stand-in: they sign nothing, so they need no key file."""

    kid = "(none)"

    def sign(self, lease: dict[str, Any]) -> dict[str, str]:
        raise RuntimeError("admin commands do not sign leases")

    def keys(self) -> list[dict[str, str]]:
        return []


def open_context(args: argparse.Namespace, data: Path, *, upgrade: bool = False,
                 announce: bool = True, sweep: bool = True, signing: bool = True) -> Context:
    """Database, signing key and lease terms; an older schema is upgraded only if `upgrade`.

    Without `signing` (the admin commands) no key is read, made or checked."""
    engine = open_engine(args, data, upgrade=upgrade, announce=announce)
    sessions = db.session_factory(engine)
    signer: Any = _NoSigner()
    if signing:
        try:
            # The database holds the key set; the key file, if any, is imported into an
            # empty one. A replica never makes a key of its own while the database has one.
            signer = signing_keys.open_signer(
                sessions, args.signing_key or data / "signing-key.pem", system_clock,
                args.lease_ttl, announce=announce)
        except SigningKeyError as exc:
            raise StartupError(str(exc)) from None
    context = Context(sessions, signer,
                      LeaseTerms(args.lease_ttl, args.heartbeat_interval), system_clock,
                      serialize=nullcontext() if db.is_postgres(engine) else threading.Lock(),
                      grant=GrantTerms(args.device_code_ttl, args.device_poll_interval),
                      public_url=args.public_url,
                      audit_retention_days=args.audit_retention_days,
                      closed_lease_retention_s=args.lease_retention_days * 86400, sweep=sweep,
                      max_in_flight=args.max_in_flight,
                      max_queue_wait_s=args.max_queue_wait / 1000)
    if signing:
        signing_keys.keep_fresh(context)
    return context


def migrate(args: argparse.Namespace, data: Path) -> int:
    """`seatkeeper-server migrate`: bring the schema to this version and exit."""
    engine = open_engine(args, data, upgrade=True, announce=False)
    engine.dispose()
    print(f"database {redact(database_url(args, data))} is at schema revision "
          f"{db.head_revision()}", flush=True)
    return 0


def redact(url: str) -> str:
    """Never print a database password."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(db.normalise_url(url)).render_as_string(hide_password=True)
    except (ValueError, db.DatabaseURLError):
        return "(the given URL)"


def given_admin_token(args: argparse.Namespace) -> str | None:
    """SEATKEEPER_ADMIN_TOKEN, else --admin-token-file, else systemd's credential admin-token.

    Refused (StartupError) when it is guessable or malformed.
    """
    source, given = "SEATKEEPER_ADMIN_TOKEN", os.environ.get("SEATKEEPER_ADMIN_TOKEN")
    credentials = os.environ.get("CREDENTIALS_DIRECTORY")
    path = args.admin_token_file or (Path(credentials) / ADMIN_TOKEN_FILE
                                     if credentials else None)
    if not given and path is not None and (args.admin_token_file or path.exists()):
        source = f"the admin token file {path}"
        try:
            given = path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise StartupError(f"cannot read {source}: {getattr(exc, 'strerror', None) or exc}"
                               ) from None
    if not given:
        return None
    if len(given) < MIN_ADMIN_TOKEN or not security.well_formed_token(given):
        raise StartupError(
            f"{source} must hold {MIN_ADMIN_TOKEN} to {security.MAX_TOKEN_LENGTH} "
            f"printable ASCII characters (it has {len(given)}): a short one can be guessed. "
            "Make one with: python3 -c 'import secrets; print(secrets.token_urlsafe(32))'")
    return given


def admin_token(context: Context, given: str | None, data: Path) -> None:
    """Take SEATKEEPER_ADMIN_TOKEN, or make one at first start into an owner-only file.

    Never printed: a service manager keeps standard output in its journal.
    """
    with context.transaction() as session:
        if given:
            auth.set_admin_token(session, given)
            return
        if auth.has_admin_token(session):
            return
        token = security.new_token("ska")
        path = data / ADMIN_TOKEN_FILE
        try:
            write_secret(path, token + "\n")
        except OSError as exc:
            raise StartupError(f"cannot write the generated admin token to {path}: "
                               f"{exc.strerror or exc}. Set SEATKEEPER_ADMIN_TOKEN instead, "
                               "or make the folder writable.") from None
        auth.set_admin_token(session, token)
    print(f"Admin token generated: it is in {path} (readable by this user only).", flush=True)


def write_secret(path: Path, text: str) -> None:
    """Write a new owner-only file, never through a symlink or into someone else's file."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def demo(context: Context, data: Path) -> None:
    """The demo account and its 2-seat license, made once; its password is kept for reprints."""
    path = data / "demo-password"
    with context.transaction() as session:
        if accounts.find_account(session, DEMO_EMAIL) is None:
            password = secrets.token_urlsafe(9)
            made = accounts.create_account(session, DEMO_EMAIL, password, context.now())
            accounts.create_license(session, made["id"], "PIX4Dmapper Yearly", "subscription", 2,
                                    context.now() + 365 * 86400, None, context.now())
            write_secret(path, password + "\n")
    password = path.read_text().strip() if path.exists() else "(unknown: see demo-password)"
    print(f"Demo account: {DEMO_EMAIL}  password: {password}  (license: PIX4Dmapper Yearly, "
          "2 seats)", flush=True)
