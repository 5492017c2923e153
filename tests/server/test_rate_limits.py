"""Password guessing is bounded, under concurrency too, without letting anyone lock an owner out.

The rule (docs/protocol.md): at most 10 failures per (account, address) per 5 minutes,
100 per account per hour from all addresses together, 30 per address per 5 minutes; past
any of them 429 RATE_LIMITED with Retry-After. Each client here binds its own address from
127.0.0.0/8, which the server sees as the connection's source.
"""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import requests

from tests.server.checks import SourceAddress, address, error, login_body, post_from
from tests.server.test_concurrency import no_server_errors, race
from tests.support.api import Api, expect
from tests.support.portal import Portal


def login(api: Api, body: dict, client: str | None = None) -> requests.Response:
    """POST /v1/auth/password from `client` (a 127.0.0.0/8 source address), or a fresh one."""
    return post_from(client or address(), f"{api.url}/v1/auth/password", json=body)


def statuses(responses: Sequence[requests.Response]) -> Counter[int]:
    no_server_errors(responses)
    return Counter(r.status_code for r in responses)


def test_forty_wrong_passwords_at_once_get_exactly_ten_401s(api: Api) -> None:
    """40 simultaneous wrong passwords for one account from one address: ten 401s, thirty 429s."""
    for _ in range(2):
        account, client = api.create_account(), address()
        body = login_body(account["email"], "wrong-password")
        responses = race([partial(login, api, body, client) for _ in range(40)])
        assert statuses(responses) == {401: 10, 429: 30}
        for refused in (r for r in responses if r.status_code == 429):
            error(refused, 429, "RATE_LIMITED")
            assert 1 <= int(refused.headers["Retry-After"]) <= 301


def test_forty_wrong_passwords_for_forty_accounts_at_once_lock_that_address_only(
        api: Api) -> None:
    """One address guessing 40 accounts at once: exactly 30 are checked; then any account is
    429 from there, and fine from elsewhere."""
    client = address()
    bodies = [login_body(f"nobody-{secrets.token_hex(4)}@example.test", "wrong-password")
              for _ in range(40)]
    responses = race([partial(login, api, body, client) for body in bodies])
    assert statuses(responses) == {401: 30, 429: 10}
    account = api.create_account()
    refused = login(api, login_body(account["email"], account["password"]), client)
    error(refused, 429, "RATE_LIMITED")
    assert 1 <= int(refused.headers["Retry-After"]) <= 301
    expect(login(api, login_body(account["email"], account["password"]), address()), 200)


def test_the_owner_signs_in_from_another_address_after_ten_failures_elsewhere(
        api: Api) -> None:
    """10 failures from one address lock that address out of the account, not its owner."""
    account, attacker = api.create_account(), address()
    failures = race([partial(login, api, login_body(account["email"], "wrong-password"),
                             attacker) for _ in range(10)])
    assert statuses(failures) == {401: 10}
    refused = login(api, login_body(account["email"], account["password"]), attacker)
    error(refused, 429, "RATE_LIMITED")
    assert 1 <= int(refused.headers["Retry-After"]) <= 301
    expect(login(api, login_body(account["email"], account["password"])), 200)


def test_case_variants_of_the_email_count_as_one_account(api: Api) -> None:
    """Failures for `Bob@X`, `BOB@x` and ` bob@x ` count together: the 11th attempt is 429."""
    account, client = api.create_account(), address()
    email = account["email"]
    variants = [email.upper(), email.capitalize(), f"  {email} ", email.swapcase()]
    bodies = [login_body(variants[i % len(variants)], "wrong-password") for i in range(10)]
    assert statuses(race([partial(login, api, b, client) for b in bodies])) == {401: 10}
    error(login(api, login_body(email, account["password"]), client), 429, "RATE_LIMITED")


def test_a_hundred_failures_from_many_addresses_lock_the_account_for_the_hour(
        api: Api) -> None:
    """100 failures spread over 20 addresses: then 429 from anywhere, for up to an hour."""
    account = api.create_account()
    clients = [address() for _ in range(20)]
    body = login_body(account["email"], "wrong-password")
    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(lambda i: login(api, body, clients[i % 20]), range(100)))
    assert statuses(responses) == {401: 100}
    refused = login(api, login_body(account["email"], account["password"]), address())
    details = error(refused, 429, "RATE_LIMITED")
    retry_after = int(refused.headers["Retry-After"])
    assert 3000 < retry_after <= 3601, retry_after
    assert details["retry_after_s"] == retry_after


def test_successful_logins_do_not_count(api: Api) -> None:
    """Successful logins between failures give their attempt back: the 10th failure is 401."""
    account, client = api.create_account(), address()
    body = login_body(account["email"], "wrong-password")
    assert statuses(race([partial(login, api, body, client) for _ in range(9)])) == {401: 9}
    right = login_body(account["email"], account["password"])
    for _ in range(2):
        expect(login(api, right, client), 200)
    error(login(api, body, client), 401, "UNAUTHENTICATED")
    error(login(api, right, client), 429, "RATE_LIMITED")


def test_x_forwarded_for_is_ignored_by_default(api: Api) -> None:
    """Without --forwarded-allow-ips a client cannot pick its address: ten X-Forwarded-For
    values from one connection's address are one address, locked out of the account."""
    account, client = api.create_account(), address()
    body = login_body(account["email"], "wrong-password")

    def attempt(i: int) -> requests.Response:
        return post_from(client, f"{api.url}/v1/auth/password", json=body,
                         headers={"X-Forwarded-For": f"198.51.100.{i + 1}"})

    with ThreadPoolExecutor(max_workers=5) as pool:
        assert statuses(list(pool.map(attempt, range(10)))) == {401: 10}
    error(attempt(99), 429, "RATE_LIMITED")


def test_the_portals_sign_in_counts_with_the_api(api: Api) -> None:
    """Ten failures through the API lock the portal's sign-in from that address too (429
    page with Retry-After); the owner signs in on the portal from elsewhere."""
    account, client = api.create_account(), address()
    body = login_body(account["email"], "wrong-password")
    assert statuses(race([partial(login, api, body, client) for _ in range(10)])) == {401: 10}
    for source, status in ((client, 429), (address(), 303)):
        visitor = Portal(api.url)
        adapter = SourceAddress(source)
        visitor.session.mount("http://", adapter)
        try:
            response = visitor.sign_in(account["email"], account["password"])
        finally:
            visitor.close()
        assert response.status_code == status, response.text
        if status == 429:
            assert "Too many failed logins" in response.text
            assert int(response.headers["Retry-After"]) >= 1
