"""Wire messages: parsing with named-field errors, canonical JSON, lease signatures."""

from __future__ import annotations

import base64
import copy
import datetime as dt
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from seatkeeper.core.errors import BadSignature, MalformedResponse
from seatkeeper.core.keys import parse_listing
from seatkeeper.core.protocol import (
    Account,
    Device,
    LeaseEnvelope,
    License,
    LoginResult,
    SeatHolder,
    canonical_json,
    verify_lease,
)

from tests.agent.leases import Signer, lease_json


def test_canonical_json_form() -> None:
    """Keys sorted, no spaces, non-ASCII written as UTF-8 rather than escaped."""
    assert canonical_json({"b": 1, "a": {"d": [1, 2], "c": "Zürich ✓"}}) == (
        '{"a":{"c":"Zürich ✓","d":[1,2]},"b":1}'.encode())


@given(st.dictionaries(st.text(), st.integers() | st.text() | st.none(), max_size=5))
def test_canonical_json_round_trips(value: dict[str, Any]) -> None:
    """Canonical JSON is valid UTF-8 JSON and independent of key insertion order."""
    data = canonical_json(value)
    assert json.loads(data.decode("utf-8")) == value
    assert canonical_json(dict(reversed(list(value.items())))) == data


def test_verify_good_lease() -> None:
    """A lease signed with the pinned key verifies and parses into aware datetimes."""
    server = Signer()
    lease = verify_lease(server.sign(lease_json()), server.keys)
    assert lease.lease_id == "lease-1"
    assert lease.expires_at == dt.datetime(2026, 11, 29, 8, 15, tzinfo=dt.UTC)
    assert lease.license.seats_total == 3 and lease.device.name == "survey-laptop"
    assert "rt-secret" not in repr(lease)


def test_verify_non_ascii_and_unknown_fields() -> None:
    """Signatures cover the lease as received: non-ASCII names and unknown fields included."""
    server = Signer()
    raw = lease_json(device={"id": "d", "name": "Jürgen's 測量 laptop"}, future_field={"x": 1})
    envelope = LeaseEnvelope.verified(server.sign(raw), server.keys)
    assert envelope.lease.device.name == "Jürgen's 測量 laptop"
    assert envelope.to_json()["lease"]["future_field"] == {"x": 1}
    verify_lease(envelope.to_json(), server.keys)


def test_tampered_lease_rejected() -> None:
    """Changing any signed field (here: the expiry) breaks the signature."""
    server = Signer()
    body = server.sign(lease_json())
    body["lease"]["expires_at"] = "2030-01-01T00:00:00Z"
    with pytest.raises(BadSignature):
        verify_lease(body, server.keys)


def test_unknown_kid_and_wrong_key_rejected() -> None:
    """A lease signed by a key that is not pinned is refused."""
    server, other = Signer("k1"), Signer("k2")
    with pytest.raises(BadSignature, match="unknown key"):
        verify_lease(other.sign(lease_json()), server.keys)
    with pytest.raises(BadSignature):
        verify_lease(other.sign(lease_json()), {"k2": server.public})


@pytest.mark.parametrize("mutate", [
    lambda s: s.update(alg="RS256"),
    lambda s: s.update(value="not base64!"),
    lambda s: s.update(value=base64.b64encode(b"short").decode()),
])
def test_malformed_signature_rejected(mutate: Any) -> None:
    """A signature of the wrong algorithm, encoding or length is refused."""
    server = Signer()
    body = server.sign(lease_json())
    mutate(body["signature"])
    with pytest.raises(BadSignature):
        verify_lease(body, server.keys)


@pytest.mark.parametrize(("field", "value", "named"), [
    ("ttl_s", "900", "lease.ttl_s"),
    ("ttl_s", True, "lease.ttl_s"),
    ("expires_at", "tomorrow", "lease.expires_at"),
    ("expires_at", "2026-11-29T08:15:00", "lease.expires_at"),
    ("license", [], "lease.license"),
    ("lease_id", None, "lease.lease_id"),
])
def test_wrong_shape_names_the_field(field: str, value: Any, named: str) -> None:
    """A signed lease of the wrong shape raises MalformedResponse naming the field."""
    server = Signer()
    with pytest.raises(MalformedResponse, match=named.replace(".", r"\.")):
        verify_lease(server.sign(lease_json(**{field: value})), server.keys)


def test_nested_field_named() -> None:
    """A bad field deep inside names its whole path."""
    bad = copy.deepcopy(lease_json())
    bad["license"]["seats_total"] = "3"
    server = Signer()
    with pytest.raises(MalformedResponse, match=r"lease\.license\.seats_total"):
        verify_lease(server.sign(bad), server.keys)


def test_envelope_not_an_object() -> None:
    """A body that is not an object at all is malformed, not a crash."""
    with pytest.raises(MalformedResponse):
        verify_lease([1, 2], {})
    with pytest.raises(MalformedResponse, match=r"body\.signature"):
        verify_lease({"lease": {}}, {})


def test_messages_round_trip() -> None:
    """Account, device, login and seat-holder messages parse and serialize back."""
    account = {"id": "a", "email": "e@x", "remote_deactivation": False,
               "licenses": [{"id": "l", "account_id": "a", "name": "OTC", "kind": "perpetual",
                             "seats_total": 1, "seats_used": 0, "expires_at": None,
                             "support_until": "2026-06-30"}]}
    parsed = Account.from_json(account)
    assert parsed.licenses[0].support_until == dt.date(2026, 6, 30)
    assert parsed.to_json() == account
    device = {"id": "d", "name": "pc", "platform": "linux", "current": True,
              "seat": {"lease_id": "x", "license_id": "l", "expires_at": "2026-11-29T08:00:00Z"},
              "last_heartbeat_at": None}
    assert Device.from_json(device).to_json() == device
    login = LoginResult.from_json({"token": "tok-secret", "account": {"id": "a", "email": "e"},
                                   "device": {"id": "d", "name": "pc"}})
    assert "tok-secret" not in repr(login) and login.token == "tok-secret"
    holder = {"id": "d", "name": "office", "last_heartbeat_at": "2026-11-29T07:00:00Z"}
    assert SeatHolder.from_json(holder).to_json() == holder


def test_license_bad_date() -> None:
    """A support_until that is not YYYY-MM-DD is named."""
    with pytest.raises(MalformedResponse, match="support_until"):
        License.from_json({"id": "l", "name": "n", "kind": "perpetual", "seats_total": 1,
                           "seats_used": 0, "support_until": "30/06/2026"})


def test_parse_listing() -> None:
    """`/v1/keys` gives its Ed25519 entries, with status and endorsement when the server
    says them; other algorithms and entries that are not keys are left out."""
    body = {"keys": [{"kid": "a", "alg": "Ed25519", "public_key": "AAA="},
                     {"kid": "b", "alg": "RSA", "public_key": "BBB="},
                     {"kid": "c", "alg": "Ed25519", "public_key": "CCC=", "status": "next",
                      "current_from": "2027-01-01T00:00:00Z",
                      "endorsement": {"kid": "a", "alg": "Ed25519", "value": "sig"}},
                     {"kid": 4, "alg": "Ed25519", "public_key": "DDD="}, "nonsense"]}
    listed = parse_listing(body)
    assert [(k.kid, k.status, k.endorsed_by) for k in listed] == [
        ("a", None, None), ("c", "next", "a")]
    assert listed[1].endorsement == "sig" and listed[1].current_from == "2027-01-01T00:00:00Z"
    assert parse_listing({"keys": "none"}) == () and parse_listing([]) == ()
