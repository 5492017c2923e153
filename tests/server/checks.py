"""Assertions the server suite shares: the error body, lease signatures, wire formats, waiting."""

from __future__ import annotations

import base64
import calendar
import json
import re
import secrets
import time
from collections.abc import Callable
from typing import Any, TypeVar

import requests
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from requests.adapters import HTTPAdapter

from tests.support.api import Api

RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
T = TypeVar("T")


def error(response: requests.Response, status: int, code: str) -> dict[str, Any]:
    """Assert the protocol's error body with this status and code; return its `details`."""
    assert response.status_code == status, (
        f"{response.request.method} {response.url}: expected {status} {code}, "
        f"got {response.status_code}: {response.text[:1000]}"
    )
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "details"}, body
    assert body["error"]["code"] == code, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"], body
    details: dict[str, Any] = body["error"]["details"]
    assert isinstance(details, dict), body
    return details


def canonical(value: Any, *, ensure_ascii: bool = False) -> bytes:
    """PROTOCOL.md's canonical JSON: sorted keys, `,` and `:`, non-ASCII as-is."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=ensure_ascii).encode()


def public_key(api: Api, kid: str) -> Ed25519PublicKey:
    """The key `/v1/keys` publishes under `kid`."""
    keys = api.get("/v1/keys").json()["keys"]
    (key,) = [k for k in keys if k["kid"] == kid]
    assert key["alg"] == "Ed25519"
    raw = base64.b64decode(key["public_key"], validate=True)
    assert len(raw) == 32
    return Ed25519PublicKey.from_public_bytes(raw)


def verify(api: Api, envelope: dict[str, Any]) -> None:
    """Assert the envelope's signature verifies over the canonical JSON of its lease."""
    signature = envelope["signature"]
    assert signature["alg"] == "Ed25519"
    value = base64.b64decode(signature["value"], validate=True)
    assert len(value) == 64
    public_key(api, signature["kid"]).verify(value, canonical(envelope["lease"]))


def epoch(rfc3339: str) -> int:
    """`2026-11-29T08:00:00Z` -> epoch seconds."""
    assert RFC3339.match(rfc3339), rfc3339
    return calendar.timegm(time.strptime(rfc3339, "%Y-%m-%dT%H:%M:%SZ"))


def wait_for(probe: Callable[[], T | None], timeout: float = 8.0, every: float = 0.2) -> T:
    """Poll `probe` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        assert time.monotonic() < deadline, f"gave up waiting after {timeout:.0f} s"
        time.sleep(every)


def next_second() -> None:
    """Sleep into the next whole second, so the server's `now` has moved on."""
    time.sleep(1.05 - time.time() % 1)


def address() -> str:
    """A loopback address no other test uses, so one test's failed logins never limit another's.

    The whole of 127.0.0.0/8 reaches the server on 127.0.0.1; requests bind it as their
    source (`client_at`), so the server sees it as the client's own address.
    """
    return f"127.{secrets.randbelow(255) + 1}.{secrets.randbelow(256)}.{secrets.randbelow(254) + 1}"


class SourceAddress(HTTPAdapter):
    """Connections that leave from one local address."""

    def __init__(self, source: str) -> None:
        self.source = source
        super().__init__()

    def init_poolmanager(self, *args: Any, **kw: Any) -> None:
        kw["source_address"] = (self.source, 0)
        super().init_poolmanager(*args, **kw)


def client_at(source: str) -> requests.Session:
    """A requests session whose connections come from `source` (a 127.0.0.0/8 address)."""
    session = requests.Session()
    adapter = SourceAddress(source)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def post_from(source: str, url: str, **kw: Any) -> requests.Response:
    """One POST whose connection comes from `source`."""
    kw.setdefault("timeout", 30)
    with client_at(source) as session:
        return session.post(url, **kw)


def login_body(email: str, password: str, fingerprint: str | None = None,
               name: str = "survey-laptop") -> dict[str, Any]:
    return {"email": email, "password": password,
            "device": {"fingerprint": fingerprint or secrets.token_hex(32), "name": name,
                       "platform": "linux"}}
