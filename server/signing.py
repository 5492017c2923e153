"""Ed25519 lease signatures: canonical JSON, the key set (next, current, retired) and its listing.

Which key signs is decided by the keys' times alone (`current_from`), so every replica
holding the same key set signs with the same key at the same moment. A key becomes
current only after it was published as `next` with an endorsement: the current key's
signature over `endorsement_statement`, which agents and applications check with a key
they already trust (docs/protocol.md, "Signing-key rotation").
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from seatkeeper_server.timeutil import Clock, system_clock, to_rfc3339

log = logging.getLogger("seatkeeper.server")
ENDORSEMENT_PURPOSE = "seatkeeper signing key endorsement"
NEXT, CURRENT, RETIRED, DROPPED = "next", "current", "retired", "dropped"


class SigningKeyError(RuntimeError):
    """A signing key cannot be read, written or used; the message says what to do."""


def canonical_json(value: Any) -> bytes:
    """Keys sorted, separators `,` and `:`, UTF-8 with non-ASCII written as-is."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def public_b64(key: Ed25519PrivateKey) -> str:
    raw = key.public_key().public_bytes(serialization.Encoding.Raw,
                                        serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def key_id(public_key_b64: str) -> str:
    """This server's key id: the first 16 hex digits of SHA-256 over the raw public key."""
    return hashlib.sha256(base64.b64decode(public_key_b64)).hexdigest()[:16]


def endorsement_statement(kid: str, public_key: str, current_from: int, endorsed_by: str) -> bytes:
    """What an endorsement signs: the new key, when it becomes current, and who vouches."""
    return canonical_json({"purpose": ENDORSEMENT_PURPOSE, "kid": kid, "alg": "Ed25519",
                           "public_key": public_key, "current_from": to_rfc3339(current_from),
                           "endorsed_by": endorsed_by})


def to_pem(key: Ed25519PrivateKey) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def from_pem(pem: bytes | str, where: str) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(
            pem.encode() if isinstance(pem, str) else pem, password=None)
    except (ValueError, TypeError) as exc:
        raise SigningKeyError(f"cannot read the signing key {where}: {exc}. It must be an "
                              "unencrypted PEM Ed25519 private key.") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(f"the signing key {where} is not an Ed25519 key")
    return key


def read_key_file(path: Path) -> Ed25519PrivateKey:
    try:
        pem = path.read_bytes()
    except OSError as exc:
        raise SigningKeyError(f"cannot read the signing key {path}: "
                              f"{exc.strerror or exc}") from None
    return from_pem(pem, str(path))


@dataclass(frozen=True, kw_only=True)
class KeyRecord:
    """One key of the set, as the database keeps it (times in epoch seconds)."""

    kid: str
    public_key: str
    current_from: int
    private: Ed25519PrivateKey | None = field(default=None, repr=False, compare=False)
    endorsed_by: str | None = None
    endorsement: str | None = None
    listed_until: int | None = None

    @classmethod
    def of(cls, key: Ed25519PrivateKey, current_from: int = 0) -> KeyRecord:
        public = public_b64(key)
        return cls(kid=key_id(public), public_key=public, current_from=current_from,
                   private=key)


def statuses(records: Sequence[KeyRecord], now: float) -> dict[str, str]:
    """Each key's status at `now`: the latest one due is current, later ones next, earlier
    ones retired until `listed_until`, then dropped."""
    ordered = sorted(records, key=lambda r: r.current_from)
    due = [r for r in ordered if r.current_from <= now]
    current = due[-1] if due else (ordered[0] if ordered else None)
    found: dict[str, str] = {}
    for record in ordered:
        if record is current:
            found[record.kid] = CURRENT
        elif record.current_from > now:
            found[record.kid] = NEXT
        elif record.listed_until is None or now < record.listed_until:
            found[record.kid] = RETIRED
        else:
            found[record.kid] = DROPPED
    return found


def signing_record(records: Sequence[KeyRecord], now: float) -> KeyRecord:
    """The key that signs at `now`: the current one. Only a replica whose clock lags the
    others by more than the grace finds the current key's private half already erased; it
    signs with the key that replaced it, which every agent already trusts."""
    state = statuses(records, now)
    usable = sorted((r for r in records if r.private is not None), key=lambda r: r.current_from)
    current = next((r for r in usable if state[r.kid] == CURRENT), None)
    if current is not None:
        return current
    later = [r for r in usable if state[r.kid] == NEXT]
    if later:
        log.warning("the current signing key's private half is gone (erased by a server "
                    "whose clock is ahead of this one's): signing with key %s; check this "
                    "host's clock", later[0].kid)
        return later[0]
    raise SigningKeyError("no signing key with its private half is left in the database: "
                          "restore the database from a backup, or see docs/operations.md")


def listing(records: Sequence[KeyRecord], now: float) -> list[dict[str, Any]]:
    """`/v1/keys`: the current key first, then next ones, then retired ones, newest first."""
    state = statuses(records, now)
    order = {CURRENT: 0, NEXT: 1, RETIRED: 2}
    shown = sorted((r for r in records if state[r.kid] != DROPPED),
                   key=lambda r: (order[state[r.kid]], -r.current_from))
    return [{"kid": r.kid, "alg": "Ed25519", "public_key": r.public_key, "status": state[r.kid],
             "current_from": to_rfc3339(r.current_from),
             "endorsement": None if r.endorsed_by is None else
             {"kid": r.endorsed_by, "alg": "Ed25519", "value": r.endorsement}}
            for r in shown]


class Signer:
    """Signs leases with the key set's current key; `keys()` is the `/v1/keys` listing.

    `Signer(key)` is a set of one key, current forever. A server's set comes from the
    database (services/signing_keys.py), which `refresh` reads again now and then on a
    thread of its own, started with the first signature in each process.
    """

    def __init__(self, key: Ed25519PrivateKey | None = None, *,
                 records: Sequence[KeyRecord] = (), clock: Clock = system_clock,
                 refresh: Callable[[], Sequence[KeyRecord]] | None = None,
                 refresh_every_s: float = 30.0) -> None:
        self._records: tuple[KeyRecord, ...] = tuple(records) or (
            (KeyRecord.of(key),) if key is not None else ())
        if not self._records:
            raise ValueError("a Signer needs a key")
        self._clock = clock
        self._refresh = refresh
        self._every = refresh_every_s
        self._thread: threading.Thread | None = None
        self._thread_lock = threading.Lock()

    @property
    def records(self) -> tuple[KeyRecord, ...]:
        return self._records

    @property
    def kid(self) -> str:
        """The key id that signs now."""
        return signing_record(self._records, self._clock()).kid

    @property
    def public_key_b64(self) -> str:
        return signing_record(self._records, self._clock()).public_key

    def sign(self, lease: dict[str, Any]) -> dict[str, str]:
        self._keep_fresh()
        record = signing_record(self._records, self._clock())
        assert record.private is not None
        value = base64.b64encode(record.private.sign(canonical_json(lease))).decode()
        return {"kid": record.kid, "alg": "Ed25519", "value": value}

    def keys(self) -> list[dict[str, Any]]:
        self._keep_fresh()
        return listing(self._records, self._clock())

    def replace(self, records: Sequence[KeyRecord]) -> None:
        """Take a newer reading of the key set (one assignment: readers see old or new)."""
        if records:
            self._records = tuple(records)

    def refresh_with(self, refresh: Callable[[], Sequence[KeyRecord]]) -> None:
        """Read the key set with `refresh` every `refresh_every_s`, from the first use on."""
        self._refresh = refresh

    def _keep_fresh(self) -> None:
        """Start the refresh thread of this process (again after a fork) on first use."""
        if self._refresh is None or (self._thread is not None and self._thread.is_alive()):
            return
        with self._thread_lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._refresh_loop, daemon=True,
                                                name="signing-keys")
                self._thread.start()

    def _refresh_loop(self) -> None:
        assert self._refresh is not None
        while True:
            time.sleep(self._every)
            try:
                self.replace(self._refresh())
            except Exception:
                log.exception("reading the signing keys failed; keeping the ones read "
                              "before, trying again in %.0f s", self._every)
