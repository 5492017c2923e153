"""The portal over HTTPS, in-process: its cookies are Secure; the ages in it read as a person's."""

from __future__ import annotations

import re
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from seatkeeper_server.app import create_app
from seatkeeper_server.context import Context
from seatkeeper_server.db import make_engine, migrate, session_factory
from seatkeeper_server.portal.views import ago
from seatkeeper_server.services import accounts
from seatkeeper_server.services.seats import LeaseTerms
from seatkeeper_server.signing import Signer

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def test_portal_cookies_are_secure_over_https(tmp_path: Path) -> None:
    """Reached over HTTPS, the sign-in and session cookies carry Secure, HttpOnly, Lax."""
    engine = make_engine(f"sqlite:///{tmp_path / 'server.db'}")
    migrate(engine)
    context = Context(session_factory(engine), Signer(Ed25519PrivateKey.generate()),
                      LeaseTerms(900, 300), clock=lambda: 1_800_000_000.0)
    with context.transaction() as session:
        accounts.create_account(session, "ana@example.com", "correct horse", 1_800_000_000)
    client = TestClient(create_app(context), base_url="https://portal.example")
    try:
        form = client.get("/portal/sign-in")
        pre = form.headers["set-cookie"]
        assert "seatkeeper_signin=" in pre and "Secure" in pre and "HttpOnly" in pre
        found = CSRF.search(form.text)
        assert found
        signed = client.post("/portal/sign-in", follow_redirects=False, data={
            "csrf": found.group(1), "email": "ana@example.com", "password": "correct horse"})
        assert signed.status_code == 303 and signed.headers["location"] == "/portal/account"
        session_cookie = next(c for c in signed.headers.get_list("set-cookie")
                              if c.startswith("seatkeeper_portal="))
        assert "Secure" in session_cookie and "HttpOnly" in session_cookie
        assert "samesite=lax" in session_cookie.lower()
    finally:
        client.close()
        engine.dispose()


def test_last_heartbeat_reads_as_a_relative_time() -> None:
    """Ages read as a person says them: just now, minutes, hours, days; never for none."""
    now = 1_800_000_000
    assert ago(None, now) == "never"
    assert ago(now - 30, now) == "just now"
    assert ago(now - 60, now) == "1 minute ago"
    assert ago(now - 3 * 3600, now) == "3 hours ago"
    assert ago(now - 2 * 86400 - 5, now) == "2 days ago"
    assert ago(now + 10, now) == "just now"  # a clock a little ahead is not the future
