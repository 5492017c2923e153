"""A thin HTTP client for tests: admin calls, logins, and devices that speak the seat protocol.

Calls return the `requests.Response` untouched so tests can assert on any
status; only the creators (`create_account`, `create_license`, `login`,
`new_device`) check for their success status and return parsed data.
"""

from __future__ import annotations

import secrets
from typing import Any

import requests

TIMEOUT_S = 10
DEFAULT_APP: dict[str, str] = {
    "name": "PIX4Dmapper",
    "version": "4.9.0",
    "release_date": "2026-06-01",
}


def expect(response: requests.Response, status: int) -> Any:
    """The response's JSON body, after asserting its status (the body is in the message)."""
    assert response.status_code == status, (
        f"{response.request.method} {response.url}: expected {status}, "
        f"got {response.status_code}: {response.text[:1000]}"
    )
    return response.json() if response.content else None


class _Client:
    """Requests against one server URL with default headers and a timeout on every call."""

    def __init__(self, url: str, headers: dict[str, str] | None = None) -> None:
        self.url = url.rstrip("/")
        self.session = requests.Session()
        if headers:
            self.session.headers.update(headers)

    def request(self, method: str, path: str, **kw: Any) -> requests.Response:
        kw.setdefault("timeout", TIMEOUT_S)
        return self.session.request(method, f"{self.url}{path}", **kw)

    def close(self) -> None:
        self.session.close()


class Device:
    """A logged-in device: every call carries its `Authorization: Bearer <token>`."""

    def __init__(
        self,
        url: str,
        *,
        token: str,
        id: str,
        name: str,
        fingerprint: str,
        account: dict[str, Any] | None = None,
        license: dict[str, Any] | None = None,
    ) -> None:
        self.token = token
        self.id = id
        self.name = name
        self.fingerprint = fingerprint
        self.account = account
        self.license = license
        # One session per device, so devices can be driven from separate threads.
        self._client = _Client(url, {"Authorization": f"Bearer {token}"})

    def __repr__(self) -> str:
        return f"Device(id={self.id!r}, name={self.name!r})"

    def request(self, method: str, path: str, **kw: Any) -> requests.Response:
        return self._client.request(method, path, **kw)

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> requests.Response:
        return self.request("POST", path, **kw)

    def put(self, path: str, **kw: Any) -> requests.Response:
        return self.request("PUT", path, **kw)

    def delete(self, path: str, **kw: Any) -> requests.Response:
        return self.request("DELETE", path, **kw)

    def acquire(
        self, license_id: str | None = None, app: dict[str, Any] | None = None
    ) -> requests.Response:
        body: dict[str, Any] = {"app": app if app is not None else DEFAULT_APP}
        if license_id is not None:
            body["license_id"] = license_id
        return self.post("/v1/seats", json=body)

    def heartbeat(self, lease_id: str) -> requests.Response:
        return self.post(f"/v1/seats/{lease_id}/heartbeat")

    def borrow(self, lease_id: str, until: str) -> requests.Response:
        return self.post(f"/v1/seats/{lease_id}/borrow", json={"until": until})

    def release(self, lease_id: str, reason: str | None = None) -> requests.Response:
        params = {"reason": reason} if reason is not None else None
        return self.delete(f"/v1/seats/{lease_id}", params=params)

    def logout(self) -> requests.Response:
        return self.post("/v1/auth/logout")

    def close(self) -> None:
        self._client.close()


class Api:
    """One server, as its operator (admin token) and as anyone who logs in."""

    def __init__(self, url: str, admin_token: str) -> None:
        self.url = url.rstrip("/")
        self.admin_token = admin_token
        self._anonymous = _Client(self.url)
        self._admin = _Client(self.url, {"Authorization": f"Bearer {admin_token}"})
        self._devices: list[Device] = []

    # Unauthenticated calls.

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self._anonymous.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> requests.Response:
        return self._anonymous.request("POST", path, **kw)

    def delete(self, path: str, **kw: Any) -> requests.Response:
        return self._anonymous.request("DELETE", path, **kw)

    # Admin calls.

    def admin_get(self, path: str, **kw: Any) -> requests.Response:
        return self._admin.request("GET", path, **kw)

    def admin_post(self, path: str, **kw: Any) -> requests.Response:
        return self._admin.request("POST", path, **kw)

    def admin_delete(self, path: str, **kw: Any) -> requests.Response:
        return self._admin.request("DELETE", path, **kw)

    def admin_patch(self, path: str, **kw: Any) -> requests.Response:
        return self._admin.request("PATCH", path, **kw)

    def audit(self, **filters: str) -> list[dict[str, Any]]:
        """The audit trail through `GET /v1/admin/audit` (every page), oldest first: the
        events matching `filters` (event, account_id, device_id, since)."""
        events: list[dict[str, Any]] = []
        params: dict[str, Any] = {**filters, "limit": 1000}
        while True:
            page = expect(self.admin_get("/v1/admin/audit", params=params), 200)
            events.extend(page["events"])
            if page["next"] is None:
                return events[::-1]
            params["cursor"] = page["next"]

    # Creators: assert success, return data.

    def create_account(self, email: str | None = None, password: str | None = None) -> dict:
        """A new account: the server's `{id, email}` plus the `password` it was given."""
        email = email or f"u-{secrets.token_hex(6)}@example.test"
        password = password or secrets.token_urlsafe(12)
        body = expect(
            self.admin_post("/v1/admin/accounts", json={"email": email, "password": password}),
            201,
        )
        return {**body, "password": password}

    def create_license(
        self,
        account_id: str,
        name: str = "PIX4Dmapper Yearly",
        kind: str = "subscription",
        seats: int = 3,
        expires_at: str | None = None,
        support_until: str | None = None,
        max_borrow_s: int | None = None,
    ) -> dict:
        """A new license for the account, as the server returns it."""
        body: dict[str, Any] = {
            "account_id": account_id,
            "name": name,
            "kind": kind,
            "seats": seats,
        }
        if expires_at is not None:
            body["expires_at"] = expires_at
        if support_until is not None:
            body["support_until"] = support_until
        if max_borrow_s is not None:
            body["max_borrow_s"] = max_borrow_s
        result: dict = expect(self.admin_post("/v1/admin/licenses", json=body), 201)
        return result

    def login(
        self,
        email: str,
        password: str,
        fingerprint: str | None = None,
        name: str = "survey-laptop",
        platform: str = "linux",
    ) -> Device:
        """Log in with a password as a device (a fresh fingerprint unless one is given)."""
        fingerprint = fingerprint or secrets.token_hex(32)
        body = expect(
            self.post(
                "/v1/auth/password",
                json={
                    "email": email,
                    "password": password,
                    "device": {"fingerprint": fingerprint, "name": name, "platform": platform},
                },
            ),
            200,
        )
        device = Device(
            self.url,
            token=body["token"],
            id=body["device"]["id"],
            name=body["device"]["name"],
            fingerprint=fingerprint,
            account=body.get("account"),
        )
        self._devices.append(device)
        return device

    def new_account(self, seats: int = 3, **license_kw: Any) -> tuple[dict, dict]:
        """A new account with one license: (account incl. password, license)."""
        account = self.create_account()
        license = self.create_license(account["id"], seats=seats, **license_kw)
        return account, license

    def new_device(
        self,
        seats: int = 3,
        *,
        device_name: str = "survey-laptop",
        platform: str = "linux",
        **license_kw: Any,
    ) -> Device:
        """A device logged in to a new account that has one license; see `.account`, `.license`."""
        account, license = self.new_account(seats=seats, **license_kw)
        device = self.login(
            account["email"], account["password"], name=device_name, platform=platform
        )
        device.account = account
        device.license = license
        return device

    def close(self) -> None:
        for device in self._devices:
            device.close()
        self._devices.clear()
        self._anonymous.close()
        self._admin.close()
