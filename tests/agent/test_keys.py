"""Following the server's key rotations: which listed keys a device (or an application) trusts.

The endorsements are made by the server's own code (seatkeeper_server.signing), so these
also check that the server signs what the agent and the SDK verify.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from seatkeeper.core.keys import first_pin, follow, kid_of, parse_listing, prune
from seatkeeper.core.protocol import verify_b64
from seatkeeper.sdk.keys import ed25519_verify
from seatkeeper_server.signing import KeyRecord, endorsement_statement, to_rfc3339

VERIFIERS = pytest.mark.parametrize("verify", [verify_b64, ed25519_verify],
                                    ids=["agent-pynacl", "sdk-cryptography"])
T0 = 1_900_000_000


class Key:
    """A server key, and its /v1/keys entry as the server lists it."""

    def __init__(self, current_from: int = T0) -> None:
        self.private = Ed25519PrivateKey.generate()
        self.record = KeyRecord.of(self.private, current_from)
        self.kid, self.public = self.record.kid, self.record.public_key
        self.current_from = current_from

    def entry(self, status: str = "current", by: Key | None = None,
              value: str | None = None) -> dict[str, Any]:
        endorsement = None
        if by is not None:
            signed = by.private.sign(endorsement_statement(self.kid, self.public,
                                                           self.current_from, by.kid))
            endorsement = {"kid": by.kid, "alg": "Ed25519",
                           "value": value or base64.b64encode(signed).decode()}
        return {"kid": self.kid, "alg": "Ed25519", "public_key": self.public, "status": status,
                "current_from": to_rfc3339(self.current_from), "endorsement": endorsement}


def listed(*entries: dict[str, Any]) -> Any:
    return parse_listing({"keys": list(entries)})


@VERIFIERS
def test_a_chain_of_endorsements_is_followed_from_the_pinned_key(verify: Any) -> None:
    """Pinned A; the server lists C (current, endorsed by B) and B (retired, endorsed by A):
    both are trusted, in whatever order they are listed."""
    a, b, c = Key(T0), Key(T0 + 100), Key(T0 + 200)
    update = follow({a.kid: a.public}, listed(c.entry("current", by=b),
                                              b.entry("retired", by=a)), verify)
    assert update.trusted == {a.kid: a.public, b.kid: b.public, c.kid: c.public}
    assert set(update.added) == {b.kid, c.kid} and update.refused == {}


@VERIFIERS
def test_a_key_without_a_valid_endorsement_is_refused_saying_why(verify: Any) -> None:
    """A first key (no endorsement), a key endorsed by a stranger, a forged endorsement
    claiming the pinned key, and a changed public key under a trusted id: none is trusted,
    each refused in words naming its problem."""
    a, stranger = Key(), Key()
    first, by_stranger, forged = Key(), Key(T0 + 1), Key(T0 + 2)
    bogus = base64.b64encode(forged.private.sign(b"anything")).decode()
    swapped = {**a.entry(), "public_key": stranger.public}
    update = follow({a.kid: a.public}, listed(
        first.entry("current"), by_stranger.entry("next", by=stranger),
        forged.entry("next", by=a, value=bogus), swapped), verify)
    assert update.trusted == {a.kid: a.public} and update.added == ()
    assert "without an endorsement" in update.refused[first.kid]
    assert f"endorsed by key {stranger.kid}, which this device does not trust" in \
        update.refused[by_stranger.kid]
    assert f"its endorsement by key {a.kid} does not verify" in update.refused[forged.kid]
    assert "another public key" in update.refused[a.kid]


@VERIFIERS
def test_an_endorsement_binds_the_time_the_key_becomes_current(verify: Any) -> None:
    """An endorsement copied onto the same key with another current_from does not verify."""
    a, b = Key(), Key(T0 + 100)
    moved = {**b.entry("next", by=a), "current_from": to_rfc3339(T0 + 5)}
    assert follow({a.kid: a.public}, listed(moved), verify).trusted == {a.kid: a.public}


@VERIFIERS
def test_a_pinned_key_the_server_no_longer_lists_still_endorses(verify: Any) -> None:
    """A configured key that was dropped from the listing is known by its public key: its
    endorsement of the current key is followed, at login too."""
    a, b = Key(), Key(T0 + 100)
    entries = listed(b.entry("current", by=a))
    assert kid_of(a.public) == a.kid
    assert first_pin(entries, a.public, verify) == {a.kid: a.public, b.kid: b.public}
    assert first_pin(entries, Key().public, verify) is None  # another key configured


@VERIFIERS
def test_at_login_the_current_key_and_what_it_endorses_are_pinned(verify: Any) -> None:
    """Without a configured key, login trusts the current key and the next key it endorses;
    not a retired key, nor an unendorsed next one."""
    old, current, upcoming, stray = Key(T0), Key(T0 + 100), Key(T0 + 200), Key(T0 + 300)
    entries = listed(current.entry("current", by=old), upcoming.entry("next", by=current),
                     stray.entry("next"), old.entry("retired"))
    assert first_pin(entries, None, verify) == {current.kid: current.public,
                                               upcoming.kid: upcoming.public}
    legacy = parse_listing({"keys": [{"kid": "k1", "alg": "Ed25519", "public_key": "AAA="}]})
    assert first_pin(legacy, None, verify) == {"k1": "AAA="}  # a server before rotation


def test_keys_the_server_lists_no_more_are_forgotten_only_from_a_trusted_listing() -> None:
    """Pruning drops an unlisted key only when the listing's current key is trusted, and
    never a key still needed for the lease held."""
    a, b, c = Key(), Key(T0 + 100), Key(T0 + 200)
    trusted = {a.kid: a.public, b.kid: b.public, c.kid: c.public}
    now_listed = listed(c.entry("current", by=b), b.entry("retired", by=a))
    assert prune(trusted, now_listed) == {b.kid: b.public, c.kid: c.public}
    assert prune(trusted, now_listed, keep={a.kid}) == trusted
    untrusted_current = listed(Key().entry("current"))
    assert prune(trusted, untrusted_current) == trusted
