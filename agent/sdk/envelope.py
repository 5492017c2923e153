"""Checking the seat's signed lease envelope against the server key an application pins.

The protocol (docs/protocol.md §Leases): Ed25519 over the canonical JSON of `lease`
(keys sorted, separators `,` and `:`, UTF-8 as-is); key and signature in standard
base64. An application that pins the license server's public key (its `/v1/keys`)
knows the seat is real without trusting anything on the computer but the key.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


class EnvelopeInvalid(ValueError):
    """The envelope is missing, malformed, or not signed by the pinned key."""


class EnvelopeExpired(EnvelopeInvalid):
    """The envelope is signed, but its lease has ended (an old envelope, or one not renewed)."""


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode("utf-8")


def _b64(text: Any, size: int, what: str) -> bytes:
    try:
        raw = base64.b64decode(str(text), validate=True)
    except (binascii.Error, ValueError):
        raise EnvelopeInvalid(f"The {what} is not valid base64.") from None
    if len(raw) != size:
        raise EnvelopeInvalid(f"The {what} has {len(raw)} bytes instead of {size}.")
    return raw


def verify_envelope(envelope: Any, public_key: str) -> dict[str, Any]:
    """The lease in `envelope` once its signature verifies with `public_key` (base64).

    Raises EnvelopeInvalid saying what is wrong: no envelope, another algorithm, a
    signature that does not verify (another server's key, or a changed lease).
    """
    if not isinstance(envelope, dict):
        raise EnvelopeInvalid("There is no lease envelope: the agent holds no seat (yet).")
    lease, signature = envelope.get("lease"), envelope.get("signature")
    if not isinstance(lease, dict) or not isinstance(signature, dict):
        raise EnvelopeInvalid('The envelope should be {"lease": {…}, "signature": {…}}.')
    if signature.get("alg") != "Ed25519":
        raise EnvelopeInvalid(f"The lease is signed with {signature.get('alg')!r}, "
                              "not Ed25519.")
    if "release_token" in lease:
        raise EnvelopeInvalid("The lease carries a release token, which the local API "
                              "never hands out.")
    key = Ed25519PublicKey.from_public_bytes(_b64(public_key, 32, "pinned public key"))
    try:
        key.verify(_b64(signature.get("value"), 64, "signature"), canonical_json(lease))
    except InvalidSignature:
        raise EnvelopeInvalid("The lease's signature does not verify with the pinned key: "
                              "it was not issued by your license server.") from None
    return lease


def check_lease(lease: dict[str, Any], seat: dict[str, Any], now: dt.datetime,
                clock_slack_s: float = 0.0) -> dict[str, Any]:
    """`lease` (verified) once it is the seat's own, as the agent checks its leases.

    A signature proves the server issued the lease, not that it is this device's seat now:
    the lease must name the seat's device (`device_id`) and lease, and its `expires_at`
    must be ahead of `now` less `clock_slack_s` (this computer's clock may differ from the
    server's by that much). EnvelopeExpired for an ended lease, else EnvelopeInvalid.
    """
    named = lease.get("device")
    device: dict[str, Any] = named if isinstance(named, dict) else {}
    if device.get("id") is None or device.get("id") != seat.get("device_id"):
        raise EnvelopeInvalid(f"The lease names another device ({device.get('name')!r}), not "
                              "this one; it is not this device's seat.")
    if lease.get("lease_id") != (seat.get("lease") or {}).get("lease_id"):
        raise EnvelopeInvalid("The envelope signs another lease than the seat's.")
    try:
        expires = dt.datetime.fromisoformat(str(lease.get("expires_at")).replace("Z", "+00:00"))
    except ValueError:
        raise EnvelopeInvalid("The lease's expires_at is not an RFC 3339 time.") from None
    if expires.tzinfo is None:
        raise EnvelopeInvalid("The lease's expires_at has no time zone.")
    if expires <= now - dt.timedelta(seconds=clock_slack_s):
        raise EnvelopeExpired(f"The lease ended at {lease.get('expires_at')}: an old "
                              "envelope is no seat.")
    return lease
