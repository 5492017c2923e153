"""Ed25519 lease signatures: the key on disk, canonical JSON, and the published key set."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


class SigningKeyError(RuntimeError):
    """The signing key file cannot be read or written; the message says what to do."""


def canonical_json(value: Any) -> bytes:
    """Keys sorted, separators `,` and `:`, UTF-8 with non-ASCII written as-is."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


class Signer:
    """Signs leases with one Ed25519 key, named by a key id derived from its public half."""

    def __init__(self, key: Ed25519PrivateKey) -> None:
        self._key = key
        raw = key.public_key().public_bytes(serialization.Encoding.Raw,
                                            serialization.PublicFormat.Raw)
        self.public_key_b64 = base64.b64encode(raw).decode()
        self.kid = hashlib.sha256(raw).hexdigest()[:16]

    def sign(self, lease: dict[str, Any]) -> dict[str, str]:
        value = base64.b64encode(self._key.sign(canonical_json(lease))).decode()
        return {"kid": self.kid, "alg": "Ed25519", "value": value}

    def keys(self) -> list[dict[str, str]]:
        return [{"kid": self.kid, "alg": "Ed25519", "public_key": self.public_key_b64}]

    @classmethod
    def from_file(cls, path: Path, *, create: bool) -> Signer:
        """Load the PEM key at `path`; with `create`, generate it (owner-only) if missing."""
        if path.exists():
            try:
                key = serialization.load_pem_private_key(path.read_bytes(), password=None)
            except (OSError, ValueError) as exc:
                raise SigningKeyError(
                    f"cannot read the signing key {path}: {exc}. Give --signing-key a PEM "
                    "Ed25519 private key, or move the file away to have a new one made."
                ) from None
            if not isinstance(key, Ed25519PrivateKey):
                raise SigningKeyError(f"the signing key {path} is not an Ed25519 key")
            return cls(key)
        if not create:
            raise SigningKeyError(
                f"the signing key {path} does not exist. Leave out --signing-key to have one "
                "made in the data directory, or point it at an Ed25519 PEM file."
            )
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(pem)
        except FileExistsError:
            return cls.from_file(path, create=False)  # another node made it first
        except OSError as exc:
            raise SigningKeyError(f"cannot write the signing key {path}: {exc}") from None
        return cls(key)
