"""seatkeeper.sdk on its own: it imports with the standard library and cryptography only,
finds the agent where the agent listens, and checks envelopes."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from seatkeeper.config import Paths
from seatkeeper.sdk import EnvelopeInvalid, verify_envelope
from seatkeeper.sdk.channel import _own_rule
from seatkeeper.sdk.envelope import canonical_json
from seatkeeper.service.control import local_api_address

# Everything the agent depends on besides cryptography: none may be imported by the SDK.
BLOCKED = ("pystray", "PIL", "apscheduler", "requests", "platformdirs", "keyring",
           "truststore", "jeepney", "Xlib", "gi", "urllib3")
PROBE = """
import importlib.abc, json, sys
BLOCKED = set(sys.argv[1].split(","))
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{name} is blocked")
sys.meta_path.insert(0, Block())
import seatkeeper.sdk as sdk
loaded = sorted({m.split(".")[0] for m in sys.modules} & BLOCKED)
print(json.dumps({"loaded": loaded, "address": sdk.find_agent(),
                  "names": sorted(sdk.__all__)}))
"""


def test_the_sdk_imports_without_the_agents_other_libraries(tmp_path: Path) -> None:
    """With pystray, Pillow, APScheduler, requests, platformdirs… blocked, the SDK imports and
    finds the agent's address by the agent's rule."""
    env = {"SEATKEEPER_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", PROBE, ",".join(BLOCKED)], env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["loaded"] == []
    assert result["address"] == str(tmp_path / "run" / "agent.sock")
    assert {"SeatSession", "verify_envelope", "find_agent"} <= set(result["names"])


@pytest.mark.parametrize("home", [True, False])
def test_the_sdks_own_rule_is_the_agents(home: bool, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the agent's libraries the SDK computes the same address as the agent."""
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    env = {"XDG_RUNTIME_DIR": str(runtime)}
    if home:
        env["SEATKEEPER_HOME"] = str(tmp_path / "home")
    assert _own_rule(env) == local_api_address(Paths.resolve(env))


def test_local_api_wins_when_given() -> None:
    """SEATKEEPER_LOCAL_API, when set, is the address."""
    from seatkeeper.sdk import find_agent

    assert find_agent({"SEATKEEPER_LOCAL_API": "/tmp/x.sock",
                       "SEATKEEPER_HOME": "/elsewhere"}) == "/tmp/x.sock"


def _key() -> tuple[Ed25519PrivateKey, str]:
    private = Ed25519PrivateKey.generate()
    raw = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return private, base64.b64encode(raw).decode()


def _signed(private: Ed25519PrivateKey, lease: dict[str, object]) -> dict[str, object]:
    value = base64.b64encode(private.sign(canonical_json(lease))).decode()
    return {"lease": lease, "signature": {"kid": "k1", "alg": "Ed25519", "value": value}}


def test_an_envelope_verifies_only_unchanged_and_with_its_key() -> None:
    """The pinned key verifies the lease as signed; a changed lease or another key fails."""
    private, public = _key()
    lease: dict[str, object] = {"lease_id": "l1", "expires_at": "2026-11-30T10:00:00Z",
                                "device": {"id": "d"}}
    envelope = _signed(private, lease)
    assert verify_envelope(envelope, public) == lease
    forged = {**envelope, "lease": {**lease, "expires_at": "2027-11-30T10:00:00Z"}}
    with pytest.raises(EnvelopeInvalid, match="does not verify"):
        verify_envelope(forged, public)
    with pytest.raises(EnvelopeInvalid, match="does not verify"):
        verify_envelope(envelope, _key()[1])
    with pytest.raises(EnvelopeInvalid, match="no lease envelope"):
        verify_envelope(None, public)



def test_a_signed_envelope_is_a_seat_only_while_it_is_this_devices_and_not_ended() -> None:
    """As the agent checks its leases: an old signed envelope, another device's, or another
    lease's does not prove the seat, though each signature verifies."""
    import datetime as dt

    from seatkeeper.sdk import EnvelopeExpired, check_lease

    private, public = _key()
    now = dt.datetime(2026, 11, 30, 10, 0, tzinfo=dt.UTC)
    lease: dict[str, object] = {"lease_id": "l1", "expires_at": "2026-11-30T10:01:00Z",
                                "device": {"id": "d1", "name": "laptop"}}
    seat: dict[str, object] = {"holding": True, "device_id": "d1", "lease": {"lease_id": "l1"}}
    signed = verify_envelope(_signed(private, lease), public)
    assert check_lease(signed, seat, now) == lease
    with pytest.raises(EnvelopeExpired, match="ended at 2026-11-30T10:01:00Z"):
        check_lease(signed, seat, now + dt.timedelta(minutes=2))
    assert check_lease(signed, seat, now + dt.timedelta(minutes=2), clock_slack_s=90) == lease
    with pytest.raises(EnvelopeInvalid, match="names another device"):
        check_lease(signed, {**seat, "device_id": "d2"}, now)
    with pytest.raises(EnvelopeInvalid, match="another lease"):
        check_lease(signed, {**seat, "lease": {"lease_id": "l0"}}, now)
