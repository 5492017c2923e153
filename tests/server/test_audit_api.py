"""GET /v1/admin/audit: the trail newest first, filtered, a page at a time, with each actor."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.server.checks import RFC3339, epoch, error, wait_for
from tests.support.api import Api, Device, expect
from tests.support.portal import Portal

FIELDS = {"at", "event", "actor", "account_id", "device_id", "lease_id", "license_id", "detail"}


def trail(api: Api, **query: Any) -> dict[str, Any]:
    body: dict[str, Any] = expect(api.admin_get("/v1/admin/audit", params=query), 200)
    assert set(body) == {"events", "next"}
    for row in body["events"]:
        assert set(row) == FIELDS and RFC3339.match(row["at"]), row
    return body


def everything(api: Api, **query: Any) -> list[dict[str, Any]]:
    """Every page of the trail for this query, followed by its cursors."""
    rows: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = trail(api, **query, **({"cursor": cursor} if cursor else {}))
        rows += page["events"]
        cursor = page["next"]
        if cursor is None:
            return rows


def test_the_trail_of_a_device_reads_newest_first_with_its_actors(api: Api) -> None:
    """Login, acquire and release by the device, then an admin's release: newest first."""
    device = api.new_device()
    assert device.account is not None
    first = expect(device.acquire(), 201)["lease"]
    expect(device.release(first["lease_id"], reason="shutdown"), 204)
    second = expect(device.acquire(), 201)["lease"]
    expect(api.admin_delete(f"/v1/admin/leases/{second['lease_id']}"), 204)
    rows = trail(api, device_id=device.id)["events"]
    assert [(r["event"], r["actor"], r["lease_id"], r["detail"]) for r in rows] == [
        ("release", "admin-token", second["lease_id"], "admin"),
        ("acquire", f"device:{device.id}", second["lease_id"], None),
        ("release", f"device:{device.id}", first["lease_id"], "shutdown"),
        ("acquire", f"device:{device.id}", first["lease_id"], None),
        ("login", f"device:{device.id}", None, None),
    ]
    assert {r["account_id"] for r in rows} == {device.account["id"]}
    assert [epoch(r["at"]) for r in rows] == sorted((epoch(r["at"]) for r in rows), reverse=True)


def test_filters_by_event_account_and_time(api: Api) -> None:
    """`event`, `account_id` and `since` each narrow the trail; together they combine."""
    device = api.new_device()
    assert device.account is not None and device.license is not None
    account_id = device.account["id"]
    created = trail(api, account_id=account_id, event="license_created")["events"]
    assert [(r["license_id"], r["actor"]) for r in created] == [
        (device.license["id"], "admin-token")]
    (made,) = trail(api, account_id=account_id, event="account_created")["events"]
    assert made["actor"] == "admin-token"
    logins = trail(api, event="login", limit=1000)["events"]
    assert logins and {r["event"] for r in logins} == {"login"}
    future = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
    assert trail(api, account_id=account_id, since=future)["events"] == []
    assert len(trail(api, account_id=account_id, since="1970-01-01T00:00:00Z")["events"]) == 3


def test_pages_follow_the_cursor_without_gaps_or_repeats(api: Api) -> None:
    """Pages of two, followed by `next`, give exactly the whole trail of the account once."""
    device = api.new_device()
    assert device.account is not None
    for _ in range(3):
        lease = expect(device.acquire(), 201)["lease"]
        expect(device.release(lease["lease_id"]), 204)
    whole = trail(api, account_id=device.account["id"])["events"]
    assert len(whole) == 9  # account, license, login, and three (acquire, release) pairs
    first = trail(api, account_id=device.account["id"], limit=2)
    assert first["events"] == whole[:2] and isinstance(first["next"], str)
    assert everything(api, account_id=device.account["id"], limit=2) == whole


def test_a_reclaim_is_the_systems_doing(short_api: Api) -> None:
    """A lease whose heartbeat stopped is reclaimed by `system`."""
    device = short_api.new_device()
    lease = expect(device.acquire(), 201)["lease"]
    (row,) = wait_for(lambda: trail(short_api, device_id=device.id, event="reclaim")["events"],
                      timeout=10)
    assert (row["actor"], row["lease_id"], row["detail"]) == ("system", lease["lease_id"],
                                                              "expired")


def test_portal_actions_name_the_account_on_the_portal(api: Api) -> None:
    """Switching remote deactivation and deactivating a device on the portal: `portal:<id>`."""
    account, _ = api.new_account()
    other = api.login(account["email"], account["password"])
    visitor = Portal(api.url)
    try:
        assert visitor.sign_in(account["email"], account["password"]).status_code == 303
        assert visitor.post("/portal/remote-deactivation",
                            {"enabled": "on"}).status_code == 303
        assert visitor.post(f"/portal/devices/{other.id}/deactivate", {}).status_code == 303
    finally:
        visitor.close()
    rows = trail(api, account_id=account["id"])["events"]
    actors = {r["event"]: r["actor"] for r in rows}
    assert actors["remote_deactivation_on"] == f"portal:{account['id']}"
    assert actors["deactivate"] == f"portal:{account['id']}"


def test_only_the_admin_token_reads_the_trail(api: Api) -> None:
    """No token is 401; a device token is 403."""
    error(api.get("/v1/admin/audit"), 401, "UNAUTHENTICATED")
    device: Device = api.new_device()
    error(device.get("/v1/admin/audit"), 403, "FORBIDDEN")


@pytest.mark.parametrize(("query", "field"), [
    ({"limit": "0"}, "limit"), ({"limit": "1001"}, "limit"), ({"since": "yesterday"}, "since"),
    ({"event": "coffee"}, "event"), ({"cursor": "bm90LWEtY3Vyc29y"}, "cursor"),
    ({"account_id": "acc\x00"}, "account_id"), ({"devce_id": "dev_1"}, "devce_id"),
])
def test_a_bad_query_is_400_naming_it(api: Api, query: dict[str, str], field: str) -> None:
    """limit outside 1..1000, a non-RFC 3339 since, an unknown event, a forged cursor, a
    mistyped parameter: 400."""
    response = api.admin_get("/v1/admin/audit", params=query)
    assert field in error(response, 400, "INVALID_REQUEST")["fields"]
