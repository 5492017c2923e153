"""The server's signing keys from outside: `seatkeeper-server keys …`, `/v1/keys`, endorsements.

`endorsed(entry, by)` checks an endorsement the way docs/protocol.md describes it, with
its own canonical JSON and `cryptography`, independent of the server's and agent's code.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import requests
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from tests.support.procs import REPO_ROOT, ServerProcess


def keys_cli(server: ServerProcess, *args: str) -> subprocess.CompletedProcess[str]:
    """`seatkeeper-server keys ARGS` with the server's own settings (database, lease TTL)."""
    command = [sys.executable, "-m", "seatkeeper_server", "keys", *args, "--db", server.db_url,
               "--lease-ttl", str(server.lease_ttl), "--heartbeat-interval",
               str(server.heartbeat_interval)]
    env = {**os.environ, "SEATKEEPER_HOME": str(server.home)}
    return subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                          timeout=60, check=False)


def listing(url: str) -> list[dict[str, Any]]:
    """`GET /v1/keys` of the server at `url`."""
    answer = requests.get(f"{url}/v1/keys", timeout=10)
    assert answer.status_code == 200, answer.text
    keys: list[dict[str, Any]] = answer.json()["keys"]
    return keys


def by_status(keys: list[dict[str, Any]]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for key in keys:
        found.setdefault(key["status"], []).append(key["kid"])
    return found


def wait_listing(url: str, until: Callable[[list[dict[str, Any]]], bool],
                 timeout: float = 30.0) -> list[dict[str, Any]]:
    """Poll `/v1/keys` until `until(keys)` holds; fail showing the last listing."""
    deadline = time.monotonic() + timeout
    while True:
        keys = listing(url)
        if until(keys):
            return keys
        assert time.monotonic() < deadline, f"/v1/keys never got there: {keys}"
        time.sleep(0.2)


def endorsed(entry: dict[str, Any], by: str) -> bool:
    """Whether `entry`'s endorsement is a valid signature of the public key `by` (base64)."""
    endorsement = entry["endorsement"]
    statement = json.dumps({"purpose": "seatkeeper signing key endorsement",
                            "kid": entry["kid"], "alg": "Ed25519",
                            "public_key": entry["public_key"],
                            "current_from": entry["current_from"],
                            "endorsed_by": endorsement["kid"]},
                           sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    try:
        Ed25519PublicKey.from_public_bytes(base64.b64decode(by)).verify(
            base64.b64decode(endorsement["value"]), statement.encode())
    except (InvalidSignature, ValueError, binascii.Error):
        return False
    return True


def signed_by(envelope: dict[str, Any], public_key: str) -> bool:
    """Whether the lease envelope's signature verifies with `public_key` (base64)."""
    lease = json.dumps(envelope["lease"], sort_keys=True, separators=(",", ":"),
                       ensure_ascii=False).encode()
    try:
        Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key)).verify(
            base64.b64decode(envelope["signature"]["value"]), lease)
    except (InvalidSignature, ValueError, binascii.Error):
        return False
    return True
