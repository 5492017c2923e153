"""The server keys an application trusts: the one it pinned, and the keys it endorses.

When the license server rotates its signing key, envelopes come signed by a key the
application never pinned. The agent's local API op `keys` gives the server's key
listing (as the agent last read `/v1/keys`); a listed key is trusted only when its
endorsement verifies with a key already trusted, starting from the pinned one, so a
forged listing (the agent is on the computer the application does not trust) gains
nothing. The rules are the agent's own (`seatkeeper.core.keys`, standard library only).
"""

from __future__ import annotations

import base64
import binascii
import threading
import time
from collections.abc import Callable
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from seatkeeper.core.keys import KeyUpdate, follow, kid_of, parse_listing
from seatkeeper.sdk.envelope import EnvelopeInvalid, verify_envelope

ASK_AGAIN_S = 30.0  # an unknown key is asked about at most this often


def ed25519_verify(public_key: str, message: bytes, signature: str) -> bool:
    """Whether `signature` (base64) is `public_key`'s (base64) over `message`."""
    try:
        key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key, validate=True))
        key.verify(base64.b64decode(signature, validate=True), message)
    except (InvalidSignature, ValueError, binascii.Error):
        return False
    return True


class TrustedKeys:
    """`verify(envelope, fetch)`: the lease, once signed by the pinned key or a key it
    endorses (through any chain); `fetch()` returns the server's key listing
    (`{"keys": [...]}`, the local API's `keys`) and is called only for a key not yet
    trusted."""

    def __init__(self, pinned: str) -> None:
        self.pinned = pinned
        self._keys: dict[str, str] = {}
        self._refused: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()

    @property
    def keys(self) -> dict[str, str]:
        """The keys trusted so far, {kid: base64 public key}."""
        with self._lock:
            return dict(self._keys)

    def learn(self, listing: Any) -> KeyUpdate:
        """Trust what the pinned key (and the keys trusted so far) endorse in `listing`."""
        entries = parse_listing(listing)
        named = [key.kid for key in entries if key.public_key == self.pinned]
        with self._lock:
            root = {(named[0] if named else kid_of(self.pinned)): self.pinned, **self._keys}
            update = follow(root, entries, ed25519_verify)
            self._keys = dict(update.trusted)
            return update

    def verify(self, envelope: Any, fetch: Callable[[], Any]) -> dict[str, Any]:
        signature = envelope.get("signature") if isinstance(envelope, dict) else None
        kid = signature.get("kid") if isinstance(signature, dict) else None
        if not isinstance(kid, str):
            return verify_envelope(envelope, self.pinned)  # says what is wrong with it
        with self._lock:
            key, refused = self._keys.get(kid), self._refused.get(kid)
        if key is not None:
            return verify_envelope(envelope, key)
        try:
            lease = verify_envelope(envelope, self.pinned)
        except EnvelopeInvalid:
            pass
        else:
            with self._lock:
                self._keys[kid] = self.pinned
            return lease
        if refused is not None and time.monotonic() - refused[0] < ASK_AGAIN_S:
            raise EnvelopeInvalid(refused[1])
        try:
            update = self.learn(fetch())
        except Exception as exc:  # the agent gone, or refusing: the envelope proves nothing
            raise EnvelopeInvalid(f"The lease is signed with key {kid}, which is not the "
                                  f"pinned key, and the agent's key listing cannot be read "
                                  f"({exc}).") from None
        key = update.trusted.get(kid)
        if key is None:
            why = update.refused.get(kid, "the server does not list it")
            message = (f"The lease is signed with key {kid}, which the pinned key does not "
                       f"endorse: {why}. It was not issued by your license server.")
            with self._lock:
                self._refused[kid] = (time.monotonic(), message)
            raise EnvelopeInvalid(message)
        return verify_envelope(envelope, key)
