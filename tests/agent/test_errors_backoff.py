"""The error tree's mapping from HTTP answers, and retry delay bounds."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st
from seatkeeper.core import errors
from seatkeeper.core.backoff import Backoff, backoff_delay, heartbeat_delay

CODES = {
    "INVALID_REQUEST": errors.InvalidRequest, "UNAUTHENTICATED": errors.Unauthenticated,
    "FORBIDDEN": errors.Forbidden, "NO_LICENSE": errors.NoLicense,
    "LICENSE_EXPIRED": errors.LicenseExpired, "SUPPORT_EXPIRED": errors.SupportExpired,
    "REMOTE_DEACTIVATION_DISABLED": errors.RemoteDeactivationDisabled,
    "NOT_FOUND": errors.NotFound, "SEAT_LIMIT_REACHED": errors.SeatLimitReached,
    "ACTIVE_DEVICE_EXISTS": errors.ActiveDeviceExists, "LEASE_EXPIRED": errors.LeaseExpired,
    "LEASE_REVOKED": errors.LeaseRevoked, "RATE_LIMITED": errors.RateLimited,
    "UNAVAILABLE": errors.Unavailable,
}


@pytest.mark.parametrize(("code", "cls"), list(CODES.items()))
def test_each_code_has_its_class(code: str, cls: type[errors.Refusal]) -> None:
    """Every protocol error code maps to one class carrying code, message and details."""
    body = {"error": {"code": code, "message": "server says", "details": {"k": 1}}}
    err = errors.from_response(409, body)
    assert type(err) is cls
    assert isinstance(err, errors.Refusal)
    assert err.code == code and err.message == "server says" and err.details == {"k": 1}
    assert err.status == 409
    assert str(err).startswith("server says")


def test_rate_limited_retry_after() -> None:
    """429 carries the Retry-After header as seconds."""
    body = {"error": {"code": "RATE_LIMITED", "message": "slow down", "details": {}}}
    err = errors.Refusal.from_response(429, body, {"Retry-After": "120"})
    assert isinstance(err, errors.RateLimited) and err.retry_after == 120.0


def test_unavailable_retry_after() -> None:
    """503 UNAVAILABLE (a busy server, its database down) carries Retry-After as seconds too,
    so the seat job comes back when the server said, not at its own backoff."""
    body = {"error": {"code": "UNAVAILABLE", "message": "busy", "details": {}}}
    err = errors.Refusal.from_response(503, body, {"retry-after": "17"})
    assert isinstance(err, errors.Unavailable) and err.retry_after == 17.0
    assert errors.Refusal.from_response(503, body).retry_after is None  # type: ignore[attr-defined]


def test_unknown_code_keeps_its_name() -> None:
    """A code added after this agent was built is a plain Refusal with that code."""
    err = errors.from_response(400, {"error": {"code": "NEW_THING", "message": "m"}})
    assert type(err) is errors.Refusal and err.code == "NEW_THING"


@pytest.mark.parametrize(("status", "body", "cls"), [
    (500, None, errors.ServerUnavailable),
    (503, {"oops": 1}, errors.ServerUnavailable),
    (502, "Bad Gateway", errors.ServerUnavailable),
    (400, None, errors.MalformedResponse),
    (404, {"error": "not an object"}, errors.MalformedResponse),
])
def test_non_protocol_error_bodies(status: int, body: object, cls: type) -> None:
    """5xx without an error body is ServerUnavailable; other shapes are malformed."""
    assert type(errors.from_response(status, body)) is cls


def test_every_error_reads_as_advice() -> None:
    """Every class has a default message a person understands, and most say what to do."""
    classes = [c for c in vars(errors).values()
               if isinstance(c, type) and issubclass(c, errors.SeatkeeperError)]
    assert len(classes) >= 25
    for cls in classes:
        err = cls()
        assert str(err) and str(err)[0].isupper(), cls
        assert isinstance(err, errors.SeatkeeperError)
    assert errors.TLSError.user_action_required
    assert not errors.Timeout.user_action_required
    assert "ca_bundle" in str(errors.TLSError())


@given(st.integers(0, 200), st.integers(0, 2**32))
def test_backoff_within_bounds(attempt: int, seed: int) -> None:
    """Full jitter draws in [0, min(cap, base * 2**attempt)], never past the cap."""
    policy = Backoff(base_s=0.5, cap_s=60.0)
    delay = policy.delay(attempt, random.Random(seed))
    assert 0.0 <= delay <= min(60.0, 0.5 * 2.0 ** min(attempt, 10)) <= 60.0


def test_backoff_grows_then_caps() -> None:
    """The ceiling doubles per attempt until it reaches the cap."""
    policy = Backoff()
    assert [policy.ceiling(a) for a in range(8)] == [1, 2, 4, 8, 16, 32, 60, 60]
    assert backoff_delay(3, random.Random(1), base_s=1, cap_s=5) <= 5


def test_backoff_is_reproducible() -> None:
    """The same seed gives the same delays (the randomness is passed in)."""
    a = [Backoff().delay(i, random.Random(7)) for i in range(5)]
    b = [Backoff().delay(i, random.Random(7)) for i in range(5)]
    assert a == b


def test_backoff_rejects_bad_settings() -> None:
    """A cap below the base, or a negative attempt, is a programming error."""
    with pytest.raises(ValueError):
        Backoff(base_s=10, cap_s=1)
    with pytest.raises(ValueError):
        Backoff().ceiling(-1)


@given(st.floats(1, 86_400), st.integers(0, 2**32))
def test_heartbeat_jitter_bounds(interval: float, seed: int) -> None:
    """Heartbeats come within ±10 % of the interval."""
    delay = heartbeat_delay(interval, random.Random(seed))
    assert 0.9 * interval <= delay <= 1.1 * interval
