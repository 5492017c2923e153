"""The server's tables. Times are epoch seconds (UTC) so SQLite and PostgreSQL agree."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# An auto-incrementing 64-bit key on PostgreSQL; SQLite only auto-increments INTEGER.
AutoId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    """Declarative base for every table."""


class Account(Base):
    __tablename__ = "accounts"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    remote_deactivation: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[int] = mapped_column(BigInteger)
    # user | admin: an administrator signs in to the console at /admin.
    role: Mapped[str] = mapped_column(String(10), default="user", server_default="user")
    # Set while an administrator has disabled the account: no login, no seat, no session.
    disabled_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class License(Base):
    __tablename__ = "licenses"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    seats_total: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    support_until: Mapped[str | None] = mapped_column(String(10), nullable=True)
    # The longest a seat may be borrowed for offline work, in seconds; 0: no borrowing.
    max_borrow_s: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Creation order decides which license an acquire without license_id takes.
    created_ns: Mapped[int] = mapped_column(BigInteger)
    # Set once an administrator revoked it: its seats ended, and it is gone for its account.
    revoked_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class Device(Base):
    __tablename__ = "devices"
    __table_args__ = (UniqueConstraint("account_id", "fingerprint"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    fingerprint: Mapped[str] = mapped_column(String(256))
    name: Mapped[str] = mapped_column(String(200))
    platform: Mapped[str] = mapped_column(String(50))
    logged_in: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[int] = mapped_column(BigInteger)
    last_heartbeat_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class Token(Base):
    """A device token, stored only as its SHA-256 hash."""

    __tablename__ = "tokens"

    hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"), index=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"))
    created_at: Mapped[int] = mapped_column(BigInteger)
    revoked_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    revoked_reason: Mapped[str | None] = mapped_column(String(40), nullable=True)


class Lease(Base):
    __tablename__ = "leases"
    __table_args__ = (
        # Open leases by expiry (the sweep) and by license (seats used); closed ones by when
        # they closed (pruning). Partial: a heartbeat writes only the open leases' entries.
        Index("ix_leases_open_expiry", "expires_at", sqlite_where=text("released_at IS NULL"),
              postgresql_where=text("released_at IS NULL")),
        Index("ix_leases_open_license", "license_id", "expires_at",
              sqlite_where=text("released_at IS NULL"),
              postgresql_where=text("released_at IS NULL")),
        Index("ix_leases_closed", "released_at", sqlite_where=text("released_at IS NOT NULL"),
              postgresql_where=text("released_at IS NOT NULL")),
        Index("ix_leases_device", "device_id", "released_at"),
        # The usage count reads the leases that ended on or after a day began (or not yet).
        Index("ix_leases_released_at", "released_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    license_id: Mapped[str] = mapped_column(ForeignKey("licenses.id"))
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"))
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"))
    issued_at: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[int] = mapped_column(BigInteger)
    last_heartbeat_at: Mapped[int] = mapped_column(BigInteger)
    release_token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    released_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # user | shutdown | logout | expired | remote_deactivation | admin
    release_reason: Mapped[str | None] = mapped_column(String(40), nullable=True)
    # Set while the seat is borrowed for offline work (expires_at is then this, or later).
    borrowed_until: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class AuditEvent(Base):
    """Every acquire, release, reclaim, deactivation and login, with time and device."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(AutoId, primary_key=True, autoincrement=True)
    at: Mapped[int] = mapped_column(BigInteger, index=True)
    event: Mapped[str] = mapped_column(String(40), index=True)
    # device:<id> | admin:<name> | admin-token | portal:<account id> | system
    actor: Mapped[str] = mapped_column(String(80), default="system")
    account_id: Mapped[str | None] = mapped_column(String(40), nullable=True, index=True)
    device_id: Mapped[str | None] = mapped_column(String(40), nullable=True, index=True)
    lease_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    license_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    detail: Mapped[str | None] = mapped_column(Text, nullable=True)


class LoginFailure(Base):
    """A failed password login (or one still being checked), per account email and address."""

    __tablename__ = "login_failures"
    __table_args__ = (Index("ix_login_failures_email", "email", "at"),
                      Index("ix_login_failures_address", "address", "at"),
                      Index("ix_login_failures_email_address", "email", "address", "at"))

    id: Mapped[int] = mapped_column(AutoId, primary_key=True, autoincrement=True)
    at: Mapped[int] = mapped_column(BigInteger)
    email: Mapped[str] = mapped_column(String(320))
    address: Mapped[str] = mapped_column(String(64))


class CodeMiss(Base):
    """A user code typed on the approve page that matched nothing waiting, per account."""

    __tablename__ = "user_code_misses"
    __table_args__ = (Index("ix_user_code_misses_account", "account_id", "at"),)

    id: Mapped[int] = mapped_column(AutoId, primary_key=True, autoincrement=True)
    at: Mapped[int] = mapped_column(BigInteger)
    account_id: Mapped[str] = mapped_column(String(40))


class Setting(Base):
    """Server-wide values kept across restarts (the admin token's hash)."""

    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class DeviceCode(Base):
    """A pending device login (RFC 8628): the device code is stored only as its hash."""

    __tablename__ = "device_codes"
    __table_args__ = (Index("ix_device_codes_address", "address", "created_at"),)

    hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_code: Mapped[str] = mapped_column(String(16), unique=True)
    fingerprint: Mapped[str] = mapped_column(String(256))
    name: Mapped[str] = mapped_column(String(200))
    platform: Mapped[str] = mapped_column(String(50))
    created_at: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[int] = mapped_column(BigInteger)
    interval_s: Mapped[int] = mapped_column(Integer)
    last_polled_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # pending | approved | denied | redeemed
    status: Mapped[str] = mapped_column(String(12))
    account_id: Mapped[str | None] = mapped_column(ForeignKey("accounts.id"), nullable=True)
    # Where the request came from (limits.address_key), shown on the approve page.
    address: Mapped[str | None] = mapped_column(String(64), nullable=True)


class PortalSession(Base):
    """A signed-in browser: the cookie is stored only as its hash, with its CSRF token."""

    __tablename__ = "portal_sessions"

    hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[int] = mapped_column(BigInteger)
    # portal | admin: a cookie opens only the part of the site it was made for.
    scope: Mapped[str] = mapped_column(String(10), default="portal", server_default="portal")


class UsageDay(Base):
    """One license's use on one UTC day, counted from its leases; kept after the audit goes."""

    __tablename__ = "usage_days"
    __table_args__ = (Index("ix_usage_days_day", "day"),)

    license_id: Mapped[str] = mapped_column(ForeignKey("licenses.id"), primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)  # YYYY-MM-DD
    account_id: Mapped[str] = mapped_column(String(40))
    # Devices that held a seat at any time of the day; the most seats held at one moment.
    seats_used: Mapped[int] = mapped_column(Integer)
    peak: Mapped[int] = mapped_column(Integer)
    # The license's seats when the day was counted.
    seats_total: Mapped[int] = mapped_column(Integer)


class SigningKey(Base):
    """One Ed25519 key of the lease-signing key set (signing.py): next, current or retired.

    Which key signs follows from the times alone, so every replica reading this table agrees.
    The private key is erased once the key can sign no more; the row stays, so a key file of
    a retired key is still recognised as this deployment's.
    """

    __tablename__ = "signing_keys"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    alg: Mapped[str] = mapped_column(String(16), default="Ed25519")
    public_key: Mapped[str] = mapped_column(String(64))
    # PKCS #8 PEM; null once a later key has been current long enough that no replica signs
    # with this one.
    private_key: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[int] = mapped_column(BigInteger)
    # Signs leases from this time on, until a later key's current_from.
    current_from: Mapped[int] = mapped_column(BigInteger, unique=True)
    # The key that endorsed this one, and its Ed25519 signature over the statement
    # (signing.endorsement_statement); null for the first key.
    endorsed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    endorsement: Mapped[str | None] = mapped_column(String(100), nullable=True)
    # Once retired: listed on /v1/keys until then (every lease it signed has ended by then).
    listed_until: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
