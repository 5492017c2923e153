"""Daily usage per license: counted from real leases across days, once, whoever counts; the
audit trail pruned after its retention, never before its days are counted.

The server runs in this process with a clock the test moves (tests/support/inproc.py):
seats are taken, renewed and given back through the API at chosen times, then the count
runs as the server's sweep runs it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from seatkeeper_server.services import usage
from sqlalchemy import create_engine, func, select, text

from tests.server.checks import wait_for
from tests.support.api import Api, expect
from tests.support.inproc import Station, database, epoch, station
from tests.support.procs import ServerProcess

DAY = 86400


@pytest.fixture
def url(backend: str, tmp_path: Path) -> Iterator[str]:
    with database(backend, tmp_path) as found:
        yield found


TTL_S, HEARTBEAT_S = 6 * 3600, 3600  # a seat lapses six hours after its last heartbeat


@pytest.fixture
def server(url: str) -> Iterator[Station]:
    with station(url, ttl_s=TTL_S, heartbeat_s=HEARTBEAT_S) as made:
        yield made


def count(s: Station) -> usage.Counted:
    with s.context.transaction() as session:
        return usage.count(session, s.context.now())


def figures(s: Station, license_id: str, since: str, until: str) -> list[tuple[Any, ...]]:
    body = s.check(s.client.get(f"/v1/admin/licenses/{license_id}/usage", headers=s.admin,
                                params={"since": since, "until": until}), 200)
    return [(d["day"], d["seats_used"], d["peak"], d["partial"]) for d in body["days"]]


def three_days_of_seats(s: Station) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Seats on 1 and 2 March 2027 (one held across midnight), none on the 3rd, one on the
    4th (today, still held); and another account's license with one seat on the 1st."""
    account, lic = s.account(seats=3)
    elsewhere, other = s.account(seats=1)
    a, b, c, d = (s.device(account, name) for name in ("a", "b", "c", "d"))
    x = s.device(elsewhere, "x")
    s.clock.at("2027-03-01T09:00:00Z")
    lease_a = s.acquire(a, lic["id"])
    s.clock.at("2027-03-01T10:00:00Z")
    s.release(x, s.acquire(x, other["id"]))
    s.clock.at("2027-03-01T11:00:00Z")
    lease_b = s.acquire(b, lic["id"])
    s.clock.at("2027-03-01T12:00:00Z")
    s.release(a, lease_a)
    lease_c = s.acquire(c, lic["id"])  # the second a's seat is free: never three at once
    s.clock.at("2027-03-01T12:30:00Z")
    s.release(c, lease_c)
    s.clock.at("2027-03-01T13:00:00Z")
    s.release(b, lease_b)
    s.clock.at("2027-03-01T23:00:00Z")
    lease_d = s.acquire(d, lic["id"])
    s.clock.at("2027-03-01T23:50:00Z")
    s.heartbeat(d, lease_d)
    s.clock.at("2027-03-02T00:40:00Z")
    s.heartbeat(d, lease_d)  # then silence: the lease runs out at 06:40
    s.clock.at("2027-03-04T08:00:00Z")
    s.acquire(a, lic["id"])
    s.clock.at("2027-03-04T10:00:00Z")
    return account, lic, other


def test_seats_used_and_peak_per_day_come_from_the_leases(server: Station) -> None:
    """Four devices on the 1st, two of them at once at most; the seat held across midnight
    counts on both days; a day without a seat is a zero; today is counted so far; another
    license counts apart."""
    s = server
    _, lic, other = three_days_of_seats(s)
    done = count(s)
    assert done.today and done.days == 3  # 1, 2 and 3 March for good, the 4th so far
    assert figures(s, lic["id"], "2027-03-01", "2027-03-04") == [
        ("2027-03-01", 4, 2, False), ("2027-03-02", 1, 1, False),
        ("2027-03-03", 0, 0, False), ("2027-03-04", 1, 1, True)]
    body = s.check(s.client.get(f"/v1/admin/licenses/{lic['id']}/usage", headers=s.admin),
                   200)
    assert body["counted_until"] == "2027-03-04" and body["until"] == "2027-03-04"
    assert body["days"][-1]["seats_total"] == 3 and body["days"][-2]["seats_total"] is None
    assert figures(s, other["id"], "2027-03-01", "2027-03-02") == [
        ("2027-03-01", 1, 1, False), ("2027-03-02", 0, 0, False)]


def test_counting_again_changes_nothing_and_today_is_recounted(server: Station) -> None:
    """A second run counts no day twice; a few minutes later, today's figures have today's
    new seats, and the days before are as they were."""
    s = server
    account, lic, _ = three_days_of_seats(s)
    count(s)
    before = figures(s, lic["id"], "2027-03-01", "2027-03-03")
    assert count(s) == usage.Counted(0, False)  # today was counted moments ago
    newcomer = s.device(account, "e")
    s.clock.now += 60
    s.acquire(newcomer, lic["id"])
    assert figures(s, lic["id"], "2027-03-04", "2027-03-04") == [("2027-03-04", 1, 1, True)]
    s.clock.now += usage.TODAY_EVERY_S
    assert count(s) == usage.Counted(0, True)
    assert figures(s, lic["id"], "2027-03-01", "2027-03-03") == before
    assert figures(s, lic["id"], "2027-03-04", "2027-03-04") == [("2027-03-04", 2, 2, True)]


def test_two_servers_counting_at_once_count_each_day_once(url: str, backend: str) -> None:
    """Replicas take turns: while one counts, the other (PostgreSQL) skips, or (SQLite)
    waits and then finds nothing left to count; the figures are the same."""
    with (station(url, ttl_s=TTL_S, heartbeat_s=HEARTBEAT_S) as first,
          station(url, ttl_s=TTL_S, heartbeat_s=HEARTBEAT_S) as second):
        _, lic, _ = three_days_of_seats(first)
        second.clock.now = first.clock.now
        results: list[usage.Counted] = []
        inside = threading.Event()

        def other() -> None:
            inside.wait(10)
            results.append(count(second))

        thread = threading.Thread(target=other)
        thread.start()
        with first.context.transaction() as session:
            results.append(usage.count(session, first.context.now()))
            inside.set()
            time.sleep(0.5)  # the other replica tries while this one holds its turn
        thread.join(30)
        assert results[0].days == 3
        if backend == "postgresql":
            assert results[1] == usage.Counted(0, False, busy=True)
        else:
            assert results[1].days == 0
        assert figures(first, lic["id"], "2027-03-01", "2027-03-03") == [
            ("2027-03-01", 4, 2, False), ("2027-03-02", 1, 1, False),
            ("2027-03-03", 0, 0, False)]


def test_old_audit_events_go_only_once_their_days_are_counted(url: str) -> None:
    """With 400 days' retention, 500 days later: the first run counts a month and prunes only
    that month's events; once every day is counted, all events older than 400 days are gone,
    younger ones stay, and the usage of the first day is still there."""
    with station(url, retention_days=400) as s:
        account, lic = s.account(seats=2)
        device = s.device(account)
        for day in ("2027-03-01", "2027-06-01"):  # both more than 400 days before "now"
            s.clock.at(f"{day}T09:00:00Z")
            s.release(device, s.acquire(device, lic["id"]))
        s.clock.at("2028-07-01T09:00:00Z")  # 307 days after June: young enough to stay
        s.release(device, s.acquire(device, lic["id"]))
        s.clock.at("2028-07-14T12:00:00Z")

        def events(before: str) -> int:
            with s.context.transaction() as session:
                return int(session.scalar(text(
                    "SELECT count(*) FROM audit_events WHERE at < :t"), {"t": epoch(before)}))

        def prune() -> int:
            with s.context.transaction() as session:
                return usage.prune_audit(session, s.context.now(), 400)

        assert prune() == 0  # nothing is counted yet: nothing goes
        assert count(s).days == usage.DAYS_PER_RUN
        assert prune() > 0
        assert events("2027-04-01") == 0 and events("2027-07-01") > 0
        while count(s).days:
            pass
        while prune():
            pass
        assert events("2027-07-01") == 0
        assert events("2028-07-02") == 2  # the July 2028 acquire and release
        assert figures(s, lic["id"], "2027-03-01", "2027-03-02")[0] == (
            "2027-03-01", 1, 1, False)
        with s.context.transaction() as session:
            kept = session.scalar(select(func.count()).select_from(usage.UsageDay))
        assert kept == 3  # a row per day with a seat held, none for the empty ones


def test_usage_answers_bad_ranges_with_400_and_unknown_licenses_with_404(
        server: Station) -> None:
    """The range is checked: a date that is not one, since after until, more than two years."""
    s = server
    _, lic = s.account()
    path = f"/v1/admin/licenses/{lic['id']}/usage"
    for params, field in (({"since": "2027-02-30"}, "since"), ({"until": "tomorrow"}, "until"),
                          ({"since": "2027-03-02", "until": "2027-03-01"}, "since"),
                          ({"since": "2020-01-01", "until": "2027-01-01"}, "since")):
        body = s.check(s.client.get(path, headers=s.admin, params=params), 400)
        assert body["error"]["code"] == "INVALID_REQUEST"
        assert field in body["error"]["details"]["fields"], body
    gone = s.check(s.client.get("/v1/admin/licenses/lic_nope/usage", headers=s.admin), 404)
    assert gone["error"]["code"] == "NOT_FOUND"
    assert s.client.get(path).status_code == 401


def test_the_servers_sweep_counts_usage_and_prunes_past_the_retention(
        url: str, tmp_path: Path) -> None:
    """A real server with --audit-retention-days 1: soon after it starts, today is counted
    and an event ten days old is gone, while one of an hour ago stays."""
    with ServerProcess(url, home=tmp_path / "home", signing_key_path=tmp_path / "key.pem",
                       extra_args=["--audit-retention-days", "1"]) as proc:
        api = Api(proc.url, proc.admin_token)
        try:
            _, lic = api.new_account()
            engine = create_engine(url)
            now = int(time.time())
            with engine.begin() as conn:
                for at in (now - 10 * DAY, now - 3600):
                    conn.execute(text("INSERT INTO audit_events (at, event, actor, detail) "
                                      "VALUES (:at, 'login', 'system', 'retention-probe')"),
                                 {"at": at})

            def probes() -> list[int]:
                with engine.connect() as conn:
                    return list(conn.execute(text(
                        "SELECT at FROM audit_events WHERE detail = 'retention-probe'"
                    )).scalars())

            wait_for(lambda: probes() == [now - 3600], timeout=15)
            engine.dispose()
            body = expect(api.admin_get(f"/v1/admin/licenses/{lic['id']}/usage"), 200)
            assert body["today_counted_at"] is not None
            assert body["days"][-1]["partial"] is True
        finally:
            api.close()
