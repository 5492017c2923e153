"""HTTP client for the seat protocol: OS trust store, timeouts, and every failure named.

The caller passes the `requests.Session` (tests inject theirs); `make_session()`
builds the production one: keep-alive, environment proxies (`trust_env`), TLS
verified against the OS trust store through `truststore` plus an optional CA
bundle. Plain http:// (allowed only to this computer) never goes through a proxy:
the device token would otherwise leave the machine unencrypted. Every requests/urllib3
failure becomes one class of `seatkeeper.core.errors`; answers are parsed into
`seatkeeper.core.protocol` values and leases are verified against the pinned key
before they are returned.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import logging
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests
import truststore
from requests.adapters import HTTPAdapter
from seatkeeper import __version__
from seatkeeper.core.errors import (
    BadSignature,
    DeviceLoginAnswer,
    MalformedResponse,
    UnknownKey,
    from_response,
)
from seatkeeper.core.keys import KeyUpdate, ListedKey, follow, parse_listing
from seatkeeper.core.protocol import (
    Account,
    Device,
    LeaseEnvelope,
    LoginResult,
    verify_b64,
)
from seatkeeper.core.wire import Reader, format_time
from seatkeeper.service.transport import check_server_url, map_request_error

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = (5.0, 15.0)  # (connect, read) seconds
USER_AGENT = f"seatkeeper-agent/{__version__}"


class TrustStoreAdapter(HTTPAdapter):
    """An HTTPAdapter whose TLS context is ours: OS trust store plus the extra bundle only.

    requests would otherwise load certifi (or REQUESTS_CA_BUNDLE) into every
    connection; the overrides below keep verification on our context alone.
    """

    def __init__(self, ssl_context: ssl.SSLContext, **kwargs: Any) -> None:
        self._ssl_context = ssl_context
        super().__init__(**kwargs)

    def init_poolmanager(self, connections: int, maxsize: int, block: bool = False,
                         **pool_kwargs: Any) -> None:
        pool_kwargs["ssl_context"] = self._ssl_context
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        proxy_kwargs["ssl_context"] = self._ssl_context
        return super().proxy_manager_for(proxy, **proxy_kwargs)

    def build_connection_pool_key_attributes(
            self, request: requests.PreparedRequest, verify: bool | str,
            cert: Any = None) -> Any:
        host_params, attributes = super().build_connection_pool_key_attributes(
            request, True, cert)
        pool_kwargs: dict[str, Any] = dict(attributes)
        pool_kwargs.pop("ca_certs", None)
        pool_kwargs.pop("ca_cert_dir", None)
        pool_kwargs["cert_reqs"] = "CERT_REQUIRED"
        return host_params, pool_kwargs

    def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
        conn.cert_reqs = "CERT_REQUIRED"
        conn.ca_certs = None
        conn.ca_cert_dir = None


def tls_context(ca_bundle: Path | None = None) -> ssl.SSLContext:
    """The OS trust store (truststore), plus the PEM bundle `ca_bundle` if given."""
    context = truststore.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if ca_bundle is not None:
        context.load_verify_locations(cafile=str(ca_bundle))
    return context


def make_session(ca_bundle: Path | None = None) -> requests.Session:
    """A keep-alive session verifying TLS with the OS trust store, honouring proxies."""
    session = requests.Session()
    session.trust_env = True
    session.mount("https://", TrustStoreAdapter(tls_context(ca_bundle)))
    session.headers["User-Agent"] = USER_AGENT
    return session


def _date_header(headers: Mapping[str, str]) -> float | None:
    value = headers.get("Date")
    if not value:
        return None
    try:
        return email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None


class Client:
    """One license server; `token` is the default device token for calls that need one."""

    def __init__(self, server_url: str, session: requests.Session | None = None, *,
                 token: str | None = None, public_keys: Mapping[str, str] | None = None,
                 timeout: tuple[float, float] = DEFAULT_TIMEOUT, ca_bundle: Path | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.server_url = check_server_url(server_url)
        self.session = session if session is not None else make_session(ca_bundle)
        if self.server_url.startswith("http://"):
            # Loopback only (check_server_url); a proxy would carry it off this computer.
            self.session.trust_env = False
            self.session.proxies.clear()
        self.token = token
        self.public_keys: dict[str, str] = dict(public_keys or {})
        # Told what following /v1/keys gave (the agent keeps the trusted keys on disk).
        self.on_keys: Callable[[KeyUpdate, tuple[ListedKey, ...]], None] | None = None
        self.timeout = timeout
        self._clock = clock
        # server clock - local clock, seconds; None until an answer carried a time.
        self.clock_skew_s: float | None = None
        # (sent, received) of this thread's last answer, for skew from body times.
        self._local = threading.local()

    def close(self) -> None:
        self.session.close()

    # -- plumbing ---------------------------------------------------------------------

    def _auth(self, token: str | None) -> dict[str, str]:
        token = token if token is not None else self.token
        if token is None:
            raise ValueError("this call needs a device token; log in first")
        return {"Authorization": f"Bearer {token}"}

    def _skew_from(self, server_epoch: float, sent: float, received: float) -> None:
        # Server times are whole seconds, truncated: +0.5 s centres the error.
        self.clock_skew_s = server_epoch + 0.5 - (sent + received) / 2

    def _call(self, method: str, path: str, *, headers: dict[str, str] | None = None,
              body: Any = None, params: dict[str, str] | None = None) -> Any:
        """Send one request; returns the parsed JSON (None for 204) or raises the tree."""
        url = self.server_url + path
        sent = self._clock()
        try:
            response = self.session.request(method, url, headers=headers, json=body,
                                            params=params, timeout=self.timeout,
                                            allow_redirects=False)
        except requests.RequestException as exc:
            raise map_request_error(exc, self.server_url, self.timeout) from None
        received = self._clock()
        log.debug("%s %s -> %d in %.0f ms", method, path, response.status_code,
                  (received - sent) * 1000)
        date = _date_header(response.headers)
        if date is not None:
            self._skew_from(date, sent, received)
        if response.status_code == 204:
            return None
        if response.is_redirect:
            # Following could downgrade to http:// or leave the pinned server.
            raise MalformedResponse(
                f"The license server redirects {path} to {response.headers.get('Location')}; "
                "set server_url to the final address.")
        try:
            data = response.json() if response.content else None
        except ValueError:
            data = None
            if response.ok:
                raise MalformedResponse(
                    f"The license server answered {method} {path} with something that is "
                    "not JSON.") from None
        if response.status_code == 400 and isinstance(data, dict) \
                and isinstance(data.get("error"), str):
            raise DeviceLoginAnswer(data["error"])  # RFC 8628's shape, the token endpoint's
        if not 200 <= response.status_code < 300:
            raise from_response(response.status_code, data, dict(response.headers))
        if not isinstance(data, dict):
            raise MalformedResponse(
                f"The license server answered {method} {path} without a JSON object.")
        self._local.times = (sent, received)
        return data

    def _lease(self, data: Any) -> LeaseEnvelope:
        if not self.public_keys:
            raise BadSignature("No server key is pinned, so the lease cannot be checked.")
        sent, received = self._local.times
        try:
            envelope = LeaseEnvelope.verified(data, self.public_keys)
        except UnknownKey as exc:
            self.follow_keys(needed=exc.kid)
            envelope = LeaseEnvelope.verified(data, self.public_keys)
        self._skew_from(envelope.lease.server_time.timestamp(), sent, received)
        return envelope

    # -- endpoints --------------------------------------------------------------------

    def health(self) -> dt.datetime | None:
        """`GET /v1/health`: the cheap connectivity probe; returns the server's time."""
        data = self._call("GET", "/v1/health")
        server_time = Reader(data, "health").opt_time("time")
        if server_time is not None:
            self._skew_from(server_time.timestamp(), *self._local.times)
        return server_time

    def key_listing(self) -> tuple[ListedKey, ...]:
        """`GET /v1/keys`: the server's Ed25519 keys, with status and endorsement."""
        data = self._call("GET", "/v1/keys")
        Reader(data, "keys").items("keys", lambda item, _where: item)  # a list, or say so
        return parse_listing(data)

    def keys(self) -> dict[str, str]:
        """The server's Ed25519 keys as {kid: base64 public key}."""
        return {key.kid: key.public_key for key in self.key_listing()}

    def follow_keys(self, needed: str | None = None) -> KeyUpdate:
        """Read `/v1/keys` and trust the keys a trusted key endorses (docs/protocol.md);
        `on_keys` hears the outcome. With `needed`, that key must come out trusted, else
        BadSignature says why not (a forged key, another server's key set)."""
        listing = self.key_listing()
        update = follow(self.public_keys, listing, verify_b64)
        self.public_keys = dict(update.trusted)
        if update.added:
            log.info("trusting the server's signing key(s) %s, endorsed by a key this device "
                     "trusted already", ", ".join(update.added))
        if self.on_keys is not None:
            self.on_keys(update, listing)
        if needed is not None and needed not in update.trusted:
            why = update.refused.get(needed, "the server does not list it on /v1/keys")
            raise BadSignature(f"The license server sent a seat lease signed with key "
                               f"{needed}, which this device does not trust: {why}. The "
                               "lease is refused.")
        return update

    def login_password(self, email: str, password: str, *, fingerprint: str, name: str,
                       platform: str) -> LoginResult:
        """`POST /v1/auth/password`: a device token for this device."""
        body = {"email": email, "password": password,
                "device": {"fingerprint": fingerprint, "name": name, "platform": platform}}
        return LoginResult.from_json(self._call("POST", "/v1/auth/password", body=body))

    def device_authorize(self, *, fingerprint: str, name: str,
                         platform: str) -> dict[str, Any]:
        """`POST /v1/auth/device`: a device login's codes, where to approve it, the interval."""
        data = self._call("POST", "/v1/auth/device",
                          body={"fingerprint": fingerprint, "name": name, "platform": platform})
        r = Reader(data, "device authorization")
        return {"device_code": r.text("device_code"), "user_code": r.text("user_code"),
                "verification_uri": r.text("verification_uri"),
                "verification_uri_complete": r.text("verification_uri_complete"),
                "interval": r.integer("interval"), "expires_in": r.integer("expires_in")}

    def device_token(self, device_code: str) -> LoginResult:
        """`POST /v1/auth/device/token`: the login once approved, else `DeviceLoginAnswer`."""
        data = self._call("POST", "/v1/auth/device/token", body={"device_code": device_code})
        return LoginResult.from_json(data)

    def logout(self, *, token: str | None = None) -> None:
        """`POST /v1/auth/logout`: revoke the token and release its device's seat."""
        self._call("POST", "/v1/auth/logout", headers=self._auth(token))

    def account(self, *, token: str | None = None) -> Account:
        """`GET /v1/account`."""
        return Account.from_json(self._call("GET", "/v1/account", headers=self._auth(token)))

    def set_remote_deactivation(self, enabled: bool, *, token: str | None = None) -> bool:
        """`PUT /v1/account/remote-deactivation`; returns the switch as the server has it."""
        data = self._call("PUT", "/v1/account/remote-deactivation",
                          headers=self._auth(token), body={"enabled": enabled})
        return Reader(data, "remote-deactivation").flag("enabled")

    def devices(self, *, token: str | None = None) -> list[Device]:
        """`GET /v1/devices`: this account's logged-in devices."""
        data = self._call("GET", "/v1/devices", headers=self._auth(token))
        return list(Reader(data, "devices").items("devices", Device.from_json))

    def deactivate_device(self, device_id: str, *, token: str | None = None) -> Device:
        """`POST /v1/devices/{id}/deactivate`: release another device's seat, revoke it."""
        data = self._call("POST", f"/v1/devices/{quote(device_id, safe='')}"
                          "/deactivate", headers=self._auth(token))
        return Device.from_json(data)

    def acquire(self, *, app_name: str, app_version: str, app_release_date: dt.date,
                license_id: str | None = None, token: str | None = None) -> LeaseEnvelope:
        """`POST /v1/seats`: a new lease (with its release token) or the one held, renewed."""
        body: dict[str, Any] = {"app": {"name": app_name, "version": app_version,
                                        "release_date": app_release_date.isoformat()}}
        if license_id is not None:
            body["license_id"] = license_id
        return self._lease(self._call("POST", "/v1/seats", headers=self._auth(token),
                                      body=body))

    def heartbeat(self, lease_id: str, *, token: str | None = None) -> LeaseEnvelope:
        """`POST /v1/seats/{lease_id}/heartbeat`: the lease, extended."""
        path = f"/v1/seats/{quote(lease_id, safe='')}/heartbeat"
        return self._lease(self._call("POST", path, headers=self._auth(token)))

    def borrow(self, lease_id: str, until: dt.datetime, *,
               token: str | None = None) -> LeaseEnvelope:
        """`POST /v1/seats/{lease_id}/borrow`: the lease, kept until `until` (or less)."""
        path = f"/v1/seats/{quote(lease_id, safe='')}/borrow"
        return self._lease(self._call("POST", path, headers=self._auth(token),
                                      body={"until": format_time(until)}))

    def release(self, lease_id: str, *, reason: str = "user", release_token: str | None = None,
                token: str | None = None) -> None:
        """`DELETE /v1/seats/{lease_id}` with the release token, else the device token."""
        headers = ({"Seat-Release-Token": release_token} if release_token is not None
                   else self._auth(token))
        self._call("DELETE", f"/v1/seats/{quote(lease_id, safe='')}",
                   headers=headers, params={"reason": reason})

