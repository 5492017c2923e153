"""Forwarded addresses: trusted only from the proxies the operator names, bounded when stored.

`X-Forwarded-For` decides which address the rate limits count; trusting it from anyone
(uvicorn's default trusts loopback) would let a client pick a fresh address per guess.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from tests.server.checks import address, error, login_body, post_from
from tests.server.test_rate_limits import statuses
from tests.support.api import Api, expect
from tests.support.portal import Portal
from tests.support.procs import ServerProcess

FROM_ADDRESS = re.compile(r"<dt>From address</dt><dd>([^<\s]+)")


def _server(db_url: str, home: Path, key: Path, admin: str, env: dict[str, str]
            ) -> ServerProcess:
    return ServerProcess(db_url, home=home, signing_key_path=key, admin_token=admin, env=env)


@pytest.fixture(scope="module")
def proxied(server: ServerProcess, db_url: str, backend_dir: Path,
            signing_key_path: Path) -> Iterator[Api]:
    """A server behind a reverse proxy on 127.0.0.1 (SEATKEEPERD_FORWARDED_ALLOW_IPS)."""
    with _server(db_url, backend_dir / "proxied-home", signing_key_path, server.admin_token,
                 {"SEATKEEPERD_FORWARDED_ALLOW_IPS": "127.0.0.1"}) as proc:
        api = Api(proc.url, proc.admin_token)
        yield api
        api.close()


def via_proxy(api: Api, body: dict, forwarded: str, source: str = "127.0.0.1"
              ) -> requests.Response:
    """A login as the proxy on `source` forwards it for the client `forwarded`."""
    return post_from(source, f"{api.url}/v1/auth/password", json=body,
                     headers={"X-Forwarded-For": forwarded})


def ten_failures(api: Api, email: str, forwarded: list[str], source: str = "127.0.0.1"
                 ) -> None:
    body = login_body(email, "wrong-password")
    with ThreadPoolExecutor(max_workers=5) as pool:
        responses = list(pool.map(lambda f: via_proxy(api, body, f, source), forwarded))
    assert statuses(responses) == {401: 10}


def ipv4() -> str:
    return f"198.18.{secrets.randbelow(256)}.{secrets.randbelow(254) + 1}"


def test_a_trusted_proxy_forwards_each_clients_own_address(proxied: Api) -> None:
    """Behind the proxy, 10 failures from one client lock that client, not the owner elsewhere."""
    account, attacker = proxied.create_account(), ipv4()
    ten_failures(proxied, account["email"], [attacker] * 10)
    right = login_body(account["email"], account["password"])
    error(via_proxy(proxied, right, attacker), 429, "RATE_LIMITED")
    expect(via_proxy(proxied, right, ipv4()), 200)


def test_forwarded_headers_from_another_address_are_ignored(proxied: Api) -> None:
    """Only the named proxy is believed: another client's X-Forwarded-For changes nothing."""
    account, client = proxied.create_account(), address()
    ten_failures(proxied, account["email"], [ipv4() for _ in range(10)], source=client)
    error(via_proxy(proxied, login_body(account["email"], account["password"]), ipv4(),
                    source=client), 429, "RATE_LIMITED")


def test_an_ipv6_client_is_counted_by_its_64(proxied: Api) -> None:
    """Ten failures from ten addresses of one IPv6 /64 lock that /64; another /64 gets in."""
    account = proxied.create_account()
    prefix = f"2001:db8:{secrets.randbelow(65536):x}:{secrets.randbelow(65536):x}"
    ten_failures(proxied, account["email"], [f"{prefix}::{i + 1:x}" for i in range(10)])
    right = login_body(account["email"], account["password"])
    error(via_proxy(proxied, right, f"{prefix}:aa:bb:cc:dd"), 429, "RATE_LIMITED")
    expect(via_proxy(proxied, right, f"2001:db8:ffff:{secrets.randbelow(65536):x}::1"), 200)


@pytest.mark.parametrize("forwarded", [", ".join(["203.0.113.9"] * 30) + ", " + "a" * 200,
                                       "fe80::1%" + "x" * 100])
def test_an_overlong_forwarded_address_is_still_counted(proxied: Api, forwarded: str) -> None:
    """A forwarded address longer than any column: wrong passwords are 401 and counted, and
    then even the right one is 429 (never a 500 for wrong and 200 for right)."""
    account = proxied.create_account()
    ten_failures(proxied, account["email"], [forwarded] * 10)
    error(via_proxy(proxied, login_body(account["email"], account["password"]), forwarded),
          429, "RATE_LIMITED")


def test_uvicorns_own_variable_trusts_no_proxy(server: ServerProcess, api: Api, db_url: str,
                                               backend_dir: Path,
                                               signing_key_path: Path) -> None:
    """FORWARDED_ALLOW_IPS=* (uvicorn's variable) is ignored: the approve page shows the
    connection's own address, not the one a client claimed."""
    account = api.create_account()
    with _server(db_url, backend_dir / "uvicorn-env-home", signing_key_path,
                 server.admin_token, {"FORWARDED_ALLOW_IPS": "*"}) as proc:
        client = address()
        grant = expect(post_from(client, f"{proc.url}/v1/auth/device", headers={
            "X-Forwarded-For": "203.0.113.77"}, json={
            "fingerprint": secrets.token_hex(16), "name": "desk", "platform": "linux"}), 200)
        visitor = Portal(proc.url)
        try:
            assert visitor.sign_in(account["email"], account["password"]).status_code == 303
            page = visitor.get(f"/portal/device?code={grant['user_code']}").text
        finally:
            visitor.close()
    found = FROM_ADDRESS.search(page)
    assert found and found.group(1) == client, page
    assert "203.0.113.77" not in page
