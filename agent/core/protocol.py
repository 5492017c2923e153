"""Wire messages of PROTOCOL.md as frozen values, and Ed25519 verification of leases.

Times are timezone-aware UTC datetimes (RFC 3339 `Z` on the wire), dates are
`datetime.date` (`YYYY-MM-DD`). `from_json` validates types and raises
`MalformedResponse` naming the field; unknown fields are ignored.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from seatkeeper.core.errors import BadSignature, UnknownKey
from seatkeeper.core.wire import Reader, format_optional, format_time

Json = dict[str, Any]


def canonical_json(value: Any) -> bytes:
    """Keys sorted, separators `,` and `:`, UTF-8 with non-ASCII written as-is."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode("utf-8")


@dataclass(frozen=True, kw_only=True)
class License:
    """A license: `subscription` (until `expires_at`) or `perpetual` (S&U until `support_until`)."""

    id: str
    name: str
    kind: str
    seats_total: int
    seats_used: int
    expires_at: dt.datetime | None = None
    support_until: dt.date | None = None
    account_id: str | None = None
    # The longest a seat may be borrowed for offline work (protocol v1.1); 0: none.
    max_borrow_s: int = 0

    @classmethod
    def from_json(cls, data: Any, where: str = "license") -> License:
        r = Reader(data, where)
        return cls(id=r.text("id"), name=r.text("name"), kind=r.text("kind"),
                   seats_total=r.integer("seats_total"), seats_used=r.integer("seats_used"),
                   expires_at=r.opt_time("expires_at"),
                   support_until=r.opt_date("support_until"),
                   account_id=r.opt_text("account_id"),
                   max_borrow_s=r.opt_integer("max_borrow_s"))

    def to_json(self) -> Json:
        out: Json = {"id": self.id, "name": self.name, "kind": self.kind,
                     "seats_total": self.seats_total, "seats_used": self.seats_used,
                     "expires_at": format_optional(self.expires_at),
                     "support_until": format_optional(self.support_until)}
        if self.account_id is not None:
            out["account_id"] = self.account_id
        if self.max_borrow_s:
            out["max_borrow_s"] = self.max_borrow_s
        return out


@dataclass(frozen=True, kw_only=True)
class DeviceRef:
    """A device named inside another message: `{id, name}`."""

    id: str
    name: str

    @classmethod
    def from_json(cls, data: Any, where: str = "device") -> DeviceRef:
        r = Reader(data, where)
        return cls(id=r.text("id"), name=r.text("name"))

    def to_json(self) -> Json:
        return {"id": self.id, "name": self.name}


@dataclass(frozen=True, kw_only=True)
class AccountRef:
    """An account named inside another message: `{id, email}`."""

    id: str
    email: str

    @classmethod
    def from_json(cls, data: Any, where: str = "account") -> AccountRef:
        r = Reader(data, where)
        return cls(id=r.text("id"), email=r.text("email"))

    def to_json(self) -> Json:
        return {"id": self.id, "email": self.email}


@dataclass(frozen=True, kw_only=True)
class Lease:
    """A seat lease as signed by the server; `release_token` only in the creating answer."""

    lease_id: str
    account_id: str
    license: License
    device: DeviceRef
    issued_at: dt.datetime
    expires_at: dt.datetime
    server_time: dt.datetime
    ttl_s: int
    heartbeat_interval_s: int
    release_token: str | None = field(default=None, repr=False)
    # While the seat is borrowed for offline work: when it ends (protocol v1.1).
    borrowed_until: dt.datetime | None = None

    @classmethod
    def from_json(cls, data: Any, where: str = "lease") -> Lease:
        r = Reader(data, where)
        return cls(lease_id=r.text("lease_id"), account_id=r.text("account_id"),
                   license=r.obj("license", License.from_json),
                   device=r.obj("device", DeviceRef.from_json),
                   issued_at=r.time("issued_at"), expires_at=r.time("expires_at"),
                   server_time=r.time("server_time"), ttl_s=r.integer("ttl_s"),
                   heartbeat_interval_s=r.integer("heartbeat_interval_s"),
                   release_token=r.opt_text("release_token"),
                   borrowed_until=r.opt_time("borrowed_until"))

    def to_json(self) -> Json:
        out: Json = {"lease_id": self.lease_id, "account_id": self.account_id,
                     "license": self.license.to_json(), "device": self.device.to_json(),
                     "issued_at": format_time(self.issued_at),
                     "expires_at": format_time(self.expires_at),
                     "server_time": format_time(self.server_time),
                     "ttl_s": self.ttl_s, "heartbeat_interval_s": self.heartbeat_interval_s}
        if self.release_token is not None:
            out["release_token"] = self.release_token
        if self.borrowed_until is not None:
            out["borrowed_until"] = format_time(self.borrowed_until)
        return out


@dataclass(frozen=True, kw_only=True)
class Signature:
    """`{kid, alg, value}`: Ed25519 over the canonical JSON of the lease."""

    kid: str
    alg: str
    value: str

    @classmethod
    def from_json(cls, data: Any, where: str = "signature") -> Signature:
        r = Reader(data, where)
        return cls(kid=r.text("kid"), alg=r.text("alg"), value=r.text("value"))

    def to_json(self) -> Json:
        return {"kid": self.kid, "alg": self.alg, "value": self.value}


@dataclass(frozen=True, kw_only=True)
class LeaseEnvelope:
    """`{lease, signature}` after verification; `raw_lease` is the lease exactly as received."""

    lease: Lease
    signature: Signature
    raw_lease: Json = field(repr=False, compare=False)

    @classmethod
    def verified(cls, data: Any, public_keys: Mapping[str, str]) -> LeaseEnvelope:
        """Verify `data` against the pinned keys and parse it (see `verify_lease`)."""
        lease = verify_lease(data, public_keys)
        return cls(lease=lease, signature=Signature.from_json(data["signature"]),
                   raw_lease=dict(data["lease"]))

    def to_json(self) -> Json:
        """The envelope as received, so it still verifies after a round trip."""
        return {"lease": self.raw_lease, "signature": self.signature.to_json()}


@dataclass(frozen=True, kw_only=True)
class Seat:
    """The seat a device holds: `{lease_id, license_id, expires_at}`."""

    lease_id: str
    license_id: str
    expires_at: dt.datetime

    @classmethod
    def from_json(cls, data: Any, where: str = "seat") -> Seat:
        r = Reader(data, where)
        return cls(lease_id=r.text("lease_id"), license_id=r.text("license_id"),
                   expires_at=r.time("expires_at"))

    def to_json(self) -> Json:
        return {"lease_id": self.lease_id, "license_id": self.license_id,
                "expires_at": format_time(self.expires_at)}


@dataclass(frozen=True, kw_only=True)
class Device:
    """One logged-in device of the account, as `GET /v1/devices` lists it."""

    id: str
    name: str
    platform: str
    current: bool
    seat: Seat | None = None
    last_heartbeat_at: dt.datetime | None = None

    @classmethod
    def from_json(cls, data: Any, where: str = "device") -> Device:
        r = Reader(data, where)
        return cls(id=r.text("id"), name=r.text("name"), platform=r.text("platform"),
                   current=r.flag("current"), seat=r.opt_obj("seat", Seat.from_json),
                   last_heartbeat_at=r.opt_time("last_heartbeat_at"))

    def to_json(self) -> Json:
        return {"id": self.id, "name": self.name, "platform": self.platform,
                "current": self.current,
                "seat": None if self.seat is None else self.seat.to_json(),
                "last_heartbeat_at": format_optional(self.last_heartbeat_at)}


@dataclass(frozen=True, kw_only=True)
class SeatHolder:
    """A device holding a seat, from `SEAT_LIMIT_REACHED`'s `details.devices`."""

    id: str
    name: str
    last_heartbeat_at: dt.datetime | None = None

    @classmethod
    def from_json(cls, data: Any, where: str = "details.devices[]") -> SeatHolder:
        r = Reader(data, where)
        return cls(id=r.text("id"), name=r.text("name"),
                   last_heartbeat_at=r.opt_time("last_heartbeat_at"))

    def to_json(self) -> Json:
        return {"id": self.id, "name": self.name,
                "last_heartbeat_at": format_optional(self.last_heartbeat_at)}


@dataclass(frozen=True, kw_only=True)
class Account:
    """`GET /v1/account`: the account, its remote-deactivation switch and its licenses."""

    id: str
    email: str
    remote_deactivation: bool
    licenses: tuple[License, ...] = ()

    @classmethod
    def from_json(cls, data: Any, where: str = "account") -> Account:
        r = Reader(data, where)
        return cls(id=r.text("id"), email=r.text("email"),
                   remote_deactivation=r.flag("remote_deactivation"),
                   licenses=r.items("licenses", License.from_json))

    def to_json(self) -> Json:
        return {"id": self.id, "email": self.email,
                "remote_deactivation": self.remote_deactivation,
                "licenses": [lic.to_json() for lic in self.licenses]}


@dataclass(frozen=True, kw_only=True)
class LoginResult:
    """A successful login: the device token (hidden from repr), the account and the device."""

    token: str = field(repr=False)
    account: AccountRef
    device: DeviceRef

    @classmethod
    def from_json(cls, data: Any, where: str = "login") -> LoginResult:
        r = Reader(data, where)
        return cls(token=r.text("token"), account=r.obj("account", AccountRef.from_json),
                   device=r.obj("device", DeviceRef.from_json))

    def to_json(self) -> Json:
        return {"token": self.token, "account": self.account.to_json(),
                "device": self.device.to_json()}




def _b64(text: str, size: int, what: str) -> bytes:
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise BadSignature(f"The lease's {what} is not valid base64.") from None
    if len(raw) != size:
        raise BadSignature(f"The lease's {what} has {len(raw)} bytes instead of {size}.")
    return raw


def verify_lease(envelope: Any, public_keys: Mapping[str, str]) -> Lease:
    """Check `{lease, signature}` against the pinned keys ({kid: base64}) and parse the lease.

    The signature is checked over the lease object exactly as received (unknown
    fields included), never over a re-serialisation of `Lease`.
    """
    r = Reader(envelope, "body")
    raw_lease = r.obj("lease", lambda data, _where: data)
    signature = r.obj("signature", Signature.from_json)
    if signature.alg != "Ed25519":
        raise BadSignature(f"The lease is signed with {signature.alg!r}, not Ed25519.")
    key_b64 = public_keys.get(signature.kid)
    if key_b64 is None:
        raise UnknownKey(f"The lease is signed with an unknown key ({signature.kid!r}).",
                         kid=signature.kid)
    if not ed25519_verify(_b64(key_b64, 32, "public key"), canonical_json(raw_lease),
                          _b64(signature.value, 64, "signature")):
        raise BadSignature()
    return Lease.from_json(raw_lease)


def ed25519_verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """Whether `signature` is `public_key`'s over `message`.

    PyNaCl (libsodium): the same checks as cryptography's Ed25519 for about 1 MiB of
    memory instead of 9 (docs/benchmarks.md); imported when the first lease is checked.
    """
    from nacl.exceptions import BadSignatureError
    from nacl.signing import VerifyKey

    try:
        VerifyKey(public_key).verify(message, signature)
    except BadSignatureError:
        return False
    return True


def verify_b64(public_key: str, message: bytes, signature: str) -> bool:
    """`ed25519_verify` on base64 text, as /v1/keys carries keys and endorsements; False for
    text that is not a key or a signature."""
    try:
        key = base64.b64decode(public_key, validate=True)
        value = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        return False
    return len(key) == 32 and len(value) == 64 and ed25519_verify(key, message, value)
