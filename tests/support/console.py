"""The administrator's console for tests: an admin account made by the CLI, a browserless
visitor that signs in with the form and posts forms with the page's CSRF token."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import requests

from tests.support.api import TIMEOUT_S
from tests.support.portal import csrf_of
from tests.support.procs import REPO_ROOT


def create_admin(db_url: str, home: Path, signing_key: Path, email: str | None = None,
                 password: str | None = None) -> dict[str, str]:
    """`seatkeeper-server admin create-admin --password-stdin`, as an operator runs it; the
    account (`id`, `email`, `role`) and the `password` given."""
    email = email or f"admin-{secrets.token_hex(5)}@vendor.test"
    password = password or secrets.token_urlsafe(12)
    env = {**os.environ, "SEATKEEPER_HOME": str(home), "SEATKEEPER_ADMIN_TOKEN": ""}
    done = subprocess.run(
        [sys.executable, "-m", "seatkeeper_server", "admin", "create-admin", "--email", email,
         "--password-stdin", "--db", db_url, "--signing-key", str(signing_key)],
        cwd=REPO_ROOT, env=env, input=password + "\n", capture_output=True, text=True,
        timeout=60, check=False)
    assert done.returncode == 0, f"create-admin failed: {done.stdout}{done.stderr}"
    made: dict[str, str] = json.loads(done.stdout.splitlines()[0])
    return {**made, "password": password}


class Console:
    """One browser's cookies against the console of the server at `url`."""

    def __init__(self, url: str, session: requests.Session | None = None) -> None:
        self.url = url.rstrip("/")
        self.session = session or requests.Session()
        self.csrf = ""

    def get(self, path: str, **kw: Any) -> requests.Response:
        kw.setdefault("timeout", TIMEOUT_S)
        kw.setdefault("allow_redirects", False)
        return self.session.get(self.url + path, **kw)

    def post(self, path: str, data: dict[str, str] | None = None, *, with_csrf: bool = True,
             **kw: Any) -> requests.Response:
        kw.setdefault("timeout", TIMEOUT_S)
        kw.setdefault("allow_redirects", False)
        form = {"csrf": self.csrf, **(data or {})} if with_csrf else (data or {})
        return self.session.post(self.url + path, data=form, **kw)

    def sign_in(self, email: str, password: str) -> requests.Response:
        """Sign in through the form; on success the session's CSRF token is kept."""
        self.csrf = csrf_of(self.get("/admin/sign-in").text)
        response = self.post("/admin/sign-in", {"email": email, "password": password})
        if response.status_code == 303:
            self.csrf = csrf_of(self.get("/admin/accounts").text)
        return response

    def close(self) -> None:
        self.session.close()
