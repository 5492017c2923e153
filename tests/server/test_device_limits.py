"""Device-login codes are limited per address: 30 asked per 5 minutes, 20 waiting at once.

Without a limit one client wrote a row per call, 136 a second. Each test asks from its
own 127.0.0.0/8 address, so the rest of the suite keeps its own budget.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest
import requests

from tests.server.checks import address, error, post_from
from tests.server.test_concurrency import race
from tests.server.test_rate_limits import statuses
from tests.support.api import Api, expect
from tests.support.procs import ServerProcess

CODE_TTL_S = 2


def ask(url: str, client: str) -> requests.Response:
    return post_from(client, f"{url}/v1/auth/device", json={
        "fingerprint": secrets.token_hex(16), "name": "field-tablet", "platform": "linux"})


@pytest.fixture(scope="module")
def quick_codes(server: ServerProcess, db_url: str, backend_dir: Path,
                signing_key_path: Path) -> Iterator[str]:
    """A server whose device-login codes expire after 2 s (so they stop waiting quickly)."""
    with ServerProcess(db_url, home=backend_dir / "quick-codes-home",
                       signing_key_path=signing_key_path, admin_token=server.admin_token,
                       extra_args=["--device-code-ttl", str(CODE_TTL_S)]) as proc:
        yield proc.url


def test_forty_codes_asked_at_once_give_twenty(api: Api) -> None:
    """40 simultaneous requests from one address: 20 codes, 20 refused until one stops waiting."""
    client = address()
    responses = race([partial(ask, api.url, client) for _ in range(40)])
    assert statuses(responses) == {200: 20, 429: 20}
    refused = next(r for r in responses if r.status_code == 429)
    error(refused, 429, "RATE_LIMITED")
    assert 1 <= int(refused.headers["Retry-After"]) <= 600
    expect(ask(api.url, address()), 200)  # another address is not limited


def test_thirty_codes_in_five_minutes_then_429(quick_codes: str) -> None:
    """Codes that expired still count toward 30 per 5 minutes; the 31st is 429 for minutes."""
    client = address()
    for _ in range(20):
        expect(ask(quick_codes, client), 200)
    time.sleep(CODE_TTL_S + 1)  # none of them is waiting any more
    for _ in range(10):
        expect(ask(quick_codes, client), 200)
    refused = ask(quick_codes, client)
    error(refused, 429, "RATE_LIMITED")
    assert 200 < int(refused.headers["Retry-After"]) <= 300
    expect(ask(quick_codes, address()), 200)
