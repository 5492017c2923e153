"""Which of the server's signing keys to trust: those a trusted key endorsed, chains allowed.

`/v1/keys` lists each key with its `status` (`next`, `current`, `retired`) and an
`endorsement`: the Ed25519 signature of the key that was current when it was made, over
`statement()` (docs/protocol.md, "Signing-key rotation"). A device trusts the key it
pinned at login and, from then on, only keys endorsed by one it trusts, so the pin
carries over every rotation and a key that merely appears on `/v1/keys` (a forged one, a
server with a key set of its own) is refused. Pure: the signature check is passed in, so
the agent (PyNaCl) and the SDK (cryptography) share this code. Standard library only.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

ENDORSEMENT_PURPOSE = "seatkeeper signing key endorsement"
NEXT, CURRENT, RETIRED = "next", "current", "retired"
# (public key, message, signature), both in standard base64 -> whether it verifies
Verify = Callable[[str, bytes, str], bool]


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode("utf-8")


def kid_of(public_key: str) -> str:
    """The key id the reference server gives a key: 16 hex digits of SHA-256 of its raw
    bytes (to name a configured key the server no longer lists)."""
    try:
        return hashlib.sha256(base64.b64decode(public_key, validate=True)).hexdigest()[:16]
    except (binascii.Error, ValueError):
        return ""


@dataclass(frozen=True, kw_only=True)
class ListedKey:
    """One entry of `/v1/keys`; `status` None from a server before key rotation."""

    kid: str
    public_key: str
    alg: str = "Ed25519"
    status: str | None = None
    current_from: str | None = None
    endorsed_by: str | None = None
    endorsement: str | None = None

    @classmethod
    def from_json(cls, data: Any) -> ListedKey | None:
        """The entry, or None when it is not one (its fields missing or of the wrong type)."""
        if not isinstance(data, dict):
            return None
        kid, public, alg = data.get("kid"), data.get("public_key"), data.get("alg")
        if not (isinstance(kid, str) and isinstance(public, str) and isinstance(alg, str)):
            return None
        given = data.get("endorsement")
        endorsement = given if isinstance(given, dict) else {}
        by, value = endorsement.get("kid"), endorsement.get("value")
        status, current_from = data.get("status"), data.get("current_from")
        return cls(kid=kid, public_key=public, alg=alg,
                   status=status if isinstance(status, str) else None,
                   current_from=current_from if isinstance(current_from, str) else None,
                   endorsed_by=by if isinstance(by, str) else None,
                   endorsement=value if isinstance(value, str) else None)

    def to_json(self) -> dict[str, Any]:
        return {"kid": self.kid, "alg": self.alg, "public_key": self.public_key,
                "status": self.status, "current_from": self.current_from,
                "endorsement": None if self.endorsed_by is None else
                {"kid": self.endorsed_by, "alg": "Ed25519", "value": self.endorsement}}

    def statement(self) -> bytes:
        """What the endorsing key signed: this key, when it becomes current, who vouches."""
        return _canonical({"purpose": ENDORSEMENT_PURPOSE, "kid": self.kid, "alg": self.alg,
                           "public_key": self.public_key, "current_from": self.current_from,
                           "endorsed_by": self.endorsed_by})


def parse_listing(data: Any) -> tuple[ListedKey, ...]:
    """`{"keys": [...]}` -> its Ed25519 entries; anything else in it is left out."""
    entries = data.get("keys") if isinstance(data, dict) else None
    found = (ListedKey.from_json(item) for item in entries or () if isinstance(entries, list))
    return tuple(key for key in found if key is not None and key.alg == "Ed25519")


@dataclass(frozen=True)
class KeyUpdate:
    """What following the endorsements gave: the keys trusted now, and why each key still
    untrusted was refused (in words, for the error a person reads)."""

    trusted: dict[str, str]
    added: tuple[str, ...]
    refused: dict[str, str]


def follow(trusted: Mapping[str, str], listing: Sequence[ListedKey],
           verify: Verify) -> KeyUpdate:
    """Trust every listed key endorsed by a trusted key (one trusted on the way counts)."""
    known = dict(trusted)
    added: list[str] = []
    refused: dict[str, str] = {}
    for key in listing:
        if key.kid in known and known[key.kid] != key.public_key:
            refused[key.kid] = ("it is listed with another public key than the one this "
                                "device trusts under that id")
    pending = [key for key in listing if key.kid not in known]
    progress = True
    while pending and progress:
        progress = False
        for key in list(pending):
            endorser = known.get(key.endorsed_by or "")
            if endorser is None and key.endorsed_by:
                # A pinned key the server lists no more is known by its public key only.
                endorser = next((value for value in known.values()
                                 if kid_of(value) == key.endorsed_by), None)
            if (endorser is not None and key.endorsement is not None
                    and verify(endorser, key.statement(), key.endorsement)):
                known[key.kid] = key.public_key
                added.append(key.kid)
                pending.remove(key)
                progress = True
    for key in pending:
        if key.endorsed_by is None or key.endorsement is None:
            refused[key.kid] = ("it is listed without an endorsement by a key this device "
                                "trusts (a server's first key, which is trusted only at login)")
        elif key.endorsed_by in known or any(kid_of(v) == key.endorsed_by
                                             for v in known.values()):
            refused[key.kid] = f"its endorsement by key {key.endorsed_by} does not verify"
        else:
            refused[key.kid] = (f"it is endorsed by key {key.endorsed_by}, which this device "
                                "does not trust")
    return KeyUpdate(trusted=known, added=tuple(added), refused=refused)


def prune(trusted: Mapping[str, str], listing: Sequence[ListedKey],
          keep: Collection[str] = ()) -> dict[str, str]:
    """Forget trusted keys the server lists no more, once its current key is trusted
    (a listing whose current key is not trusted proves nothing, and is ignored); `keep`:
    keys still needed, such as the one that signed the lease held."""
    listed = {key.kid for key in listing}
    current = [key.kid for key in listing if key.status == CURRENT]
    if not current or not all(kid in trusted for kid in current):
        return dict(trusted)
    return {kid: value for kid, value in trusted.items() if kid in listed or kid in keep}


def first_pin(listing: Sequence[ListedKey], configured: str | None,
              verify: Verify) -> dict[str, str] | None:
    """The keys to trust at login: the configured key (else the listed current key, or every
    listed key from a server that gives no status), and what it endorses. None when the
    configured key neither is the server's current key nor endorses it."""
    if configured is not None:
        named = [key.kid for key in listing if key.public_key == configured]
        root = {(named[0] if named else kid_of(configured)): configured}
    else:
        current = [key for key in listing if key.status == CURRENT]
        chosen = current or [key for key in listing if key.status is None]
        root = {key.kid: key.public_key for key in chosen}
    trusted = follow(root, listing, verify).trusted
    signing = [key.kid for key in listing if key.status in (CURRENT, None)]
    if not signing or not any(kid in trusted for kid in signing):
        return None
    return trusted
