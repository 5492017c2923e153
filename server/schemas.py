"""Request and response models: they validate input and describe the API in /openapi.json."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator
from seatkeeper_server.services import names
from seatkeeper_server.services.audit import EVENTS
from seatkeeper_server.timeutil import parse_date, parse_rfc3339

Text = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
RFC3339 = Annotated[str, Field(examples=["2026-11-29T08:00:00Z"])]
Date = Annotated[str, Field(pattern=r"^\d{4}-\d{2}-\d{2}$", examples=["2026-06-01"])]


class Request(BaseModel):
    """Strict types, unknown fields ignored (so clients may send newer fields)."""

    model_config = ConfigDict(strict=True, extra="ignore")

    @field_validator("*")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        # PostgreSQL cannot store or even compare a string holding NUL; no field needs one.
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("must not contain NUL characters")
        return value


def _storable_name(value: str) -> str:
    reason = names.problem(value)
    if reason is not None:
        raise ValueError(reason)
    return value


class DeviceInfo(Request):
    fingerprint: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    name: Text
    platform: Annotated[str, StringConstraints(min_length=1, max_length=50)]

    _names = field_validator("name", "platform")(_storable_name)


class PasswordLogin(Request):
    email: Annotated[str, StringConstraints(min_length=3, max_length=320)]
    password: Annotated[str, StringConstraints(min_length=1, max_length=1024)]
    device: DeviceInfo


class AppInfo(Request):
    name: Text
    version: Annotated[str, StringConstraints(min_length=1, max_length=50)]
    release_date: Date

    _names = field_validator("name", "version")(_storable_name)

    @field_validator("release_date")
    @classmethod
    def _date(cls, value: str) -> str:
        parse_date(value)
        return value

    def date(self) -> dt.date:
        return parse_date(self.release_date)


class AcquireRequest(Request):
    license_id: Annotated[str, StringConstraints(max_length=40)] | None = None
    app: AppInfo


class RemoteDeactivation(Request):
    enabled: bool


class CreateAccount(Request):
    email: Annotated[str, StringConstraints(min_length=3, max_length=320)]
    password: Annotated[str, StringConstraints(min_length=8, max_length=1024)]

    _names = field_validator("email")(_storable_name)


def _optional_time(value: str | None) -> str | None:
    if value is not None:
        parse_rfc3339(value)
    return value


def _optional_date(value: str | None) -> str | None:
    if value is not None:
        parse_date(value)
    return value


# A seat may be borrowed for offline work for at most a year (0: not at all).
BorrowSeconds = Annotated[int, Field(ge=0, le=366 * 86400,
                                     description="Longest borrow for offline work, seconds; "
                                                 "0: no borrowing")]


class CreateLicense(Request):
    account_id: Annotated[str, StringConstraints(min_length=1, max_length=40)]
    name: Text
    kind: Literal["subscription", "perpetual"]
    seats: Annotated[int, Field(ge=1, le=100_000)]
    expires_at: RFC3339 | None = None
    support_until: Date | None = None
    max_borrow_s: BorrowSeconds = 0

    _names = field_validator("name")(_storable_name)
    _time = field_validator("expires_at")(_optional_time)
    _date = field_validator("support_until")(_optional_date)


class UpdateLicense(Request):
    """Only the fields given change; `null` clears `expires_at` or `support_until`."""

    seats: Annotated[int, Field(ge=1, le=100_000)] | None = None
    expires_at: RFC3339 | None = None
    support_until: Date | None = None
    max_borrow_s: BorrowSeconds | None = None

    _time = field_validator("expires_at")(_optional_time)
    _date = field_validator("support_until")(_optional_date)


class BorrowRequest(Request):
    until: RFC3339 = Field(description="When the borrowed seat should end (capped by the "
                                       "license's max_borrow_s and its expiry)")

    @field_validator("until")
    @classmethod
    def _time(cls, value: str) -> str:
        parse_rfc3339(value)
        return value


# -- responses (documentation and schemathesis' checks; handlers return plain dicts) --------

class ErrorDetail(BaseModel):
    code: str
    message: str
    details: dict[str, Any]


class ErrorBody(BaseModel):
    error: ErrorDetail


class Health(BaseModel):
    status: Literal["ok"]
    time: RFC3339


class Ready(BaseModel):
    status: Literal["ready"]


class Endorsement(BaseModel):
    """The endorsing key's Ed25519 signature over the canonical JSON of
    `{"purpose": "seatkeeper signing key endorsement", "kid", "alg", "public_key",
    "current_from", "endorsed_by"}` of the endorsed key (docs/protocol.md)."""

    kid: str = Field(description="the endorsing key (`endorsed_by` in the statement)")
    alg: Literal["Ed25519"]
    value: str = Field(description="standard base64 of the 64-byte signature")


class PublicKey(BaseModel):
    kid: str
    alg: Literal["Ed25519"]
    public_key: str = Field(description="standard base64 of the raw 32-byte key")
    status: Literal["next", "current", "retired"] = Field(
        description="next: published, signs nothing yet; current: signs leases now; "
        "retired: signs no more, listed until every lease it signed has ended")
    current_from: RFC3339 = Field(description="when it signs (signed) leases from")
    endorsement: Endorsement | None = Field(
        description="by the key that was current when this one was made; null for the "
        "first key, which agents trust only at login")


class Keys(BaseModel):
    keys: list[PublicKey]


class AccountRef(BaseModel):
    id: str
    email: str


class DeviceRef(BaseModel):
    id: str
    name: str


class LoginResult(BaseModel):
    token: str
    account: AccountRef
    device: DeviceRef


class LicenseOut(BaseModel):
    id: str
    account_id: str
    name: str
    kind: Literal["subscription", "perpetual"]
    seats_total: int
    seats_used: int
    expires_at: RFC3339 | None
    support_until: Date | None
    max_borrow_s: int


class AccountOut(BaseModel):
    id: str
    email: str
    remote_deactivation: bool
    licenses: list[LicenseOut]


class SeatOut(BaseModel):
    lease_id: str
    license_id: str
    expires_at: RFC3339
    borrowed_until: RFC3339 | None = None


class DeviceOut(BaseModel):
    id: str
    name: str
    platform: str
    current: bool
    seat: SeatOut | None
    last_heartbeat_at: RFC3339 | None


class Devices(BaseModel):
    devices: list[DeviceOut]


class LeaseOut(BaseModel):
    lease_id: str
    account_id: str
    license: LicenseOut
    device: DeviceRef
    issued_at: RFC3339
    expires_at: RFC3339 = Field(description=(
        "When the lease ends unless renewed. A heartbeat or seat request never shortens "
        "it: expires_at = max(expires_at, now + ttl_s), so a borrowed seat keeps its end"))
    borrowed_until: RFC3339 | None = Field(
        None, description="While the seat is borrowed for offline work: when it ends")
    server_time: RFC3339
    ttl_s: int
    heartbeat_interval_s: int
    release_token: str | None = Field(None, description="Only in the 201 that created the lease")


class Signature(BaseModel):
    kid: str
    alg: Literal["Ed25519"]
    value: str


class LeaseEnvelope(BaseModel):
    lease: LeaseOut
    signature: Signature


class Enabled(BaseModel):
    enabled: bool


class LiveLease(BaseModel):
    lease_id: str
    device: DeviceRef
    issued_at: RFC3339
    expires_at: RFC3339
    borrowed_until: RFC3339 | None = None
    last_heartbeat_at: RFC3339


class AdminLicense(LicenseOut):
    revoked_at: RFC3339 | None = Field(None, description="When an administrator revoked it")
    leases: list[LiveLease]


class UsageDayOut(BaseModel):
    day: Date
    seats_used: int = Field(description="Devices that held a seat at any time of the day")
    peak: int = Field(description="The most seats held at one moment of the day")
    seats_total: int | None = Field(description="The license's seats when the day was "
                                    "counted; null on a day without a seat held")
    partial: bool = Field(description="Today: counted so far, not for good")


class Usage(BaseModel):
    license_id: str
    name: str
    seats_total: int
    since: Date
    until: Date
    counted_until: Date | None = Field(description="Days before this one are counted for good")
    today_counted_at: RFC3339 | None = Field(description="When today was counted so far")
    days: list[UsageDayOut] = Field(description="Each counted day from since to until (none "
                                    "before the license existed), oldest first")


class DeviceCodeRequest(Request):
    device_code: Annotated[str, StringConstraints(min_length=1, max_length=256)]


class DeviceAuthorization(BaseModel):
    device_code: str
    user_code: str
    verification_uri: str
    verification_uri_complete: str
    interval: int
    expires_in: int


class DeviceGrantError(BaseModel):
    """The token endpoint's errors, in RFC 8628's shape rather than the protocol's."""

    error: Literal["authorization_pending", "slow_down", "access_denied", "expired_token",
                   "invalid_request"]
    error_description: str | None = None


class AuditEventOut(BaseModel):
    at: RFC3339
    event: str = Field(description=", ".join(EVENTS) + " (docs/protocol.md)")
    actor: str = Field(description="device:<id>, admin:<name>, admin-token, portal:<account id>, "
                       "console:<account id> or system",
                       examples=["device:dev_0123456789abcdef01234567"])
    account_id: str | None
    device_id: str | None
    lease_id: str | None
    license_id: str | None
    detail: str | None


class AuditPage(BaseModel):
    events: list[AuditEventOut]
    next: str | None = Field(description="Pass back as `cursor` for the next (older) page; "
                             "null on the last page")
