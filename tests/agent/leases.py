"""Test helper: sign leases the way PROTOCOL.md says, with a freshly generated Ed25519 key."""

from __future__ import annotations

import base64
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from seatkeeper.core.protocol import canonical_json


def lease_json(**overrides: Any) -> dict[str, Any]:
    """A valid lease object; keyword arguments replace (or add) fields."""
    lease: dict[str, Any] = {
        "lease_id": "lease-1", "account_id": "acct-1",
        "license": {"id": "lic-1", "name": "PIX4Dmapper Yearly", "kind": "subscription",
                    "seats_total": 3, "seats_used": 2, "expires_at": "2027-01-01T00:00:00Z",
                    "support_until": None},
        "device": {"id": "dev-1", "name": "survey-laptop"},
        "issued_at": "2026-11-29T08:00:00Z", "expires_at": "2026-11-29T08:15:00Z",
        "server_time": "2026-11-29T08:00:00Z", "ttl_s": 900, "heartbeat_interval_s": 300,
        "release_token": "rt-secret",
    }
    lease.update(overrides)
    return lease


class Signer:
    """A server's signing key: `sign(lease)` gives `{lease, signature}`."""

    def __init__(self, kid: str = "k1") -> None:
        self.key = Ed25519PrivateKey.generate()
        raw = self.key.public_key().public_bytes(serialization.Encoding.Raw,
                                                 serialization.PublicFormat.Raw)
        self.kid = kid
        self.public = base64.b64encode(raw).decode()

    def sign(self, lease: dict[str, Any]) -> dict[str, Any]:
        value = base64.b64encode(self.key.sign(canonical_json(lease))).decode()
        return {"lease": lease, "signature": {"kid": self.kid, "alg": "Ed25519",
                                              "value": value}}

    @property
    def keys(self) -> dict[str, str]:
        return {self.kid: self.public}

    def keys_body(self) -> dict[str, Any]:
        return {"keys": [{"kid": self.kid, "alg": "Ed25519", "public_key": self.public}]}
