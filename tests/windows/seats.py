"""The server's side of the Windows tests: a seated agent, and its lease as the database has it."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import requests

from tests.scenarios.common import ScenarioServer, live_leases
from tests.support.api import Api
from tests.windows.desktop_agent import DesktopAgent


def leases(api: Api, license_id: str) -> list[dict[str, Any]]:
    """The license's live leases; a pooled connection the server closed while Wine was
    busy for longer than its keep-alive is retried once."""
    try:
        return live_leases(api, license_id)
    except requests.ConnectionError:
        return live_leases(api, license_id)


def wait_until(condition: Any, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {timeout:g} s"
        time.sleep(0.2)


def seated(make_agent: Any, server: ScenarioServer, api: Api, name: str, *,
           url: str | None = None, headless: bool = False
           ) -> tuple[DesktopAgent, dict[str, Any], str]:
    """An agent under Wine, logged in and running (`url`: through a proxy), its seat held
    on the server: the agent, its license, and the lease id."""
    account, license = api.new_account(seats=1)
    agent = make_agent(name, server_url=url or server.url)
    agent.login(account["email"], account["password"])
    agent.start(headless=headless)
    wait_until(lambda: len(leases(api, license["id"])) == 1, "the seat is held")
    agent.wait_for_log("-> active")  # the agent knows it too (not only the server)
    [lease] = leases(api, license["id"])
    return agent, license, str(lease["lease_id"])


def lease_row(db_path: Path, lease_id: str) -> dict[str, Any]:
    """The lease as the server's database has it, read without waiting on the server."""
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5) as db:
        db.row_factory = sqlite3.Row
        row = db.execute("SELECT * FROM leases WHERE id = ?", (lease_id,)).fetchone()
    assert row is not None, lease_id
    return dict(row)
