"""The audit trail: logins, acquires, releases with their reason, reclaims and deactivations."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from tests.server.checks import epoch, wait_for
from tests.support.api import Api, expect

Events = Callable[[str], list[dict[str, Any]]]


@pytest.fixture(scope="module")
def events(db_url: str) -> Iterator[Events]:
    """The audit rows of one account, oldest first, read straight from the server's database."""
    engine = create_engine(db_url)

    def read(account_id: str) -> list[dict[str, Any]]:
        with engine.connect() as conn:
            rows = conn.execute(text(
                "SELECT at, event, account_id, device_id, lease_id, license_id, detail "
                "FROM audit_events WHERE account_id = :account ORDER BY id"),
                {"account": account_id}).mappings().all()
        return [dict(row) for row in rows]

    yield read
    engine.dispose()


def only(rows: list[dict[str, Any]], event: str) -> list[dict[str, Any]]:
    return [row for row in rows if row["event"] == event]


def test_login_is_recorded_with_time_and_device(api: Api, events: Events) -> None:
    """A password login adds a `login` row naming the account and device, at the server's now."""
    before = int(time.time())
    device = api.new_device()
    assert device.account is not None
    (row,) = only(events(device.account["id"]), "login")
    assert row["device_id"] == device.id
    assert before <= row["at"] <= int(time.time())


def test_acquire_is_recorded_with_lease_and_license(api: Api, events: Events) -> None:
    """A new lease adds an `acquire` row; acquiring it again (200) adds none."""
    device = api.new_device()
    assert device.account is not None and device.license is not None
    lease = expect(device.acquire(), 201)["lease"]
    expect(device.acquire(), 200)
    (row,) = only(events(device.account["id"]), "acquire")
    assert (row["device_id"], row["lease_id"], row["license_id"]) == (
        device.id, lease["lease_id"], device.license["id"])


@pytest.mark.parametrize("reason", ["user", "shutdown"])
def test_release_is_recorded_with_its_reason(api: Api, events: Events, reason: str) -> None:
    """A release adds one `release` row whose detail is the reason; a repeat adds nothing."""
    device = api.new_device()
    assert device.account is not None
    lease = expect(device.acquire(), 201)["lease"]
    expect(device.release(lease["lease_id"], reason=reason), 204)
    expect(api.delete(f"/v1/seats/{lease['lease_id']}",
                      headers={"Seat-Release-Token": lease["release_token"]}), 204)
    (row,) = only(events(device.account["id"]), "release")
    assert (row["lease_id"], row["device_id"], row["detail"]) == (
        lease["lease_id"], device.id, reason)


def test_logout_release_is_recorded_as_logout(api: Api, events: Events) -> None:
    """Logout releases the seat with reason `logout`."""
    device = api.new_device()
    assert device.account is not None
    lease = expect(device.acquire(), 201)["lease"]
    expect(device.logout(), 204)
    (row,) = only(events(device.account["id"]), "release")
    assert (row["lease_id"], row["detail"]) == (lease["lease_id"], "logout")


def test_admin_release_is_recorded_as_admin(api: Api, events: Events) -> None:
    """An admin force release is a `release` row with reason `admin`."""
    device = api.new_device()
    assert device.account is not None
    lease = expect(device.acquire(), 201)["lease"]
    expect(api.admin_delete(f"/v1/admin/leases/{lease['lease_id']}"), 204)
    (row,) = only(events(device.account["id"]), "release")
    assert (row["lease_id"], row["detail"]) == (lease["lease_id"], "admin")


def test_reclaim_is_recorded_by_the_periodic_sweep(short_api: Api, events: Events) -> None:
    """A lease left silent past its TTL gets a `reclaim` row without any request touching it."""
    device = short_api.new_device()
    assert device.account is not None
    lease = expect(device.acquire(), 201)["lease"]
    account_id = device.account["id"]
    (row,) = wait_for(lambda: only(events(account_id), "reclaim"), timeout=10)
    assert (row["lease_id"], row["device_id"], row["detail"]) == (
        lease["lease_id"], device.id, "expired")
    assert row["at"] >= epoch(lease["expires_at"])
    assert not only(events(account_id), "release")


def test_deactivation_is_recorded_with_the_seat_it_freed(api: Api, events: Events) -> None:
    """Remote deactivation records the switch, a `deactivate` row and the release it caused."""
    first = api.new_device()
    assert first.account is not None
    second = api.login(first.account["email"], first.account["password"])
    expect(first.put("/v1/account/remote-deactivation", json={"enabled": True}), 200)
    lease = expect(second.acquire(), 201)["lease"]
    expect(first.post(f"/v1/devices/{second.id}/deactivate"), 200)
    rows = events(first.account["id"])
    (switch,) = only(rows, "remote_deactivation_on")
    assert switch["device_id"] == first.id
    (deactivated,) = only(rows, "deactivate")
    assert deactivated["device_id"] == second.id and first.id in deactivated["detail"]
    (released,) = only(rows, "release")
    assert (released["lease_id"], released["detail"]) == (lease["lease_id"],
                                                          "remote_deactivation")
