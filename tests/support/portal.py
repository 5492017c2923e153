"""A browserless portal visitor for tests: signs in with the form and posts forms with CSRF."""

from __future__ import annotations

import re
from typing import Any

import requests

from tests.support.api import TIMEOUT_S

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "no CSRF token on the page"
    return found.group(1)


class Portal:
    """One browser's cookies against the portal of the server at `url`."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self.session = requests.Session()
        self.csrf = ""

    def get(self, path: str, **kw: Any) -> requests.Response:
        kw.setdefault("timeout", TIMEOUT_S)
        kw.setdefault("allow_redirects", False)
        return self.session.get(self.url + path, **kw)

    def post(self, path: str, data: dict[str, str], *, with_csrf: bool = True,
             **kw: Any) -> requests.Response:
        kw.setdefault("timeout", TIMEOUT_S)
        kw.setdefault("allow_redirects", False)
        form = {"csrf": self.csrf, **data} if with_csrf else data
        return self.session.post(self.url + path, data=form, **kw)

    def sign_in(self, email: str, password: str) -> requests.Response:
        """Sign in through the form; on success the session's CSRF token is kept."""
        self.csrf = csrf_of(self.get("/portal/sign-in").text)
        response = self.post("/portal/sign-in", {"email": email, "password": password})
        if response.status_code == 303:
            self.csrf = csrf_of(self.get("/portal/account").text)
        return response

    def approve(self, user_code: str, decision: str = "approve") -> requests.Response:
        return self.post("/portal/device", {"user_code": user_code, "decision": decision})

    def close(self) -> None:
        self.session.close()
