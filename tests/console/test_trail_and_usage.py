"""The console in Chromium: the audit trail filtered and downloaded, the usage chart drawn
from real leases of past days as the server counted them, and what the console refuses."""

from __future__ import annotations

import csv
import io
import re
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image
from seatkeeper_server.db import make_engine, session_factory
from seatkeeper_server.i18n import Language
from seatkeeper_server.services import administration, usage

from tests.console.conftest import fits_a_phone, fresh_database, sign_in
from tests.server.checks import wait_for
from tests.support.api import Api, expect
from tests.support.browser import DESKTOP
from tests.support.inproc import station
from tests.support.procs import ServerProcess

DAY = 86400


def test_the_audit_trail_filters_by_account_and_downloads_that_as_csv(
        console_server: ServerProcess, console_api: Api, admin: dict[str, str], page: Any,
        browser: Any, shoot: Callable[[Any, str], Path]) -> None:
    """Filtered by an account's email and an event, the table shows just those events; the
    CSV download holds exactly the account's events, newest first, with who did each."""
    device = console_api.new_device(device_name="survey-tablet")
    assert device.account is not None
    lease = expect(device.acquire(), 201)["lease"]
    expect(device.release(lease["lease_id"]), 204)
    sign_in(page, console_server.url, admin)
    page.get_by_role("link", name="Audit trail").click()
    page.get_by_label("Account (email or id)").fill(device.account["email"])
    page.get_by_label("Event").select_option("acquire")
    page.get_by_role("button", name="Filter").click()
    rows = page.locator("table.audit tbody tr")
    assert rows.count() == 1
    assert f"device:{device.id}" in rows.first.inner_text()
    page.get_by_label("Event").select_option("")
    page.get_by_role("button", name="Filter").click()
    cells = page.locator('td[data-label="Event"]').all()
    events = [cell.get_attribute("data-event") for cell in cells]
    assert events == ["release", "acquire", "login", "license_created", "account_created"]
    assert cells[0].inner_text() == "Seat given back release"  # its name, and its code
    shoot(page, "audit")
    fits_a_phone(browser, page, page.url, shoot, "audit")
    with page.expect_download() as info:
        page.get_by_role("link", name="Download CSV").click()
    text = Path(info.value.path()).read_text(encoding="utf-8")
    table = list(csv.DictReader(io.StringIO(text)))
    assert [row["event"] for row in table] == events
    assert {row["account_email"] for row in table} == {device.account["email"]}
    assert [row["actor"] for row in table[:3]] == [f"device:{device.id}"] * 3
    assert table[0]["detail"] == "user" and table[0]["lease_id"] == lease["lease_id"]


def test_the_usage_chart_draws_the_days_the_server_counted(
        backend: str, tmp_path: Path, page: Any, browser: Any,
        shoot: Callable[[Any, str], Path]) -> None:
    """Seats taken three days ago (three devices, two at once at most), none the day after,
    one yesterday and one today: once the server has counted them, the chart's bars carry
    those numbers, the table and the CSV the same, and grey scale tells the series apart."""
    with fresh_database(backend, tmp_path) as url:
        now = int(time.time())
        today = usage.day_start(now)
        with station(url, ttl_s=6 * 3600, heartbeat_s=3600) as s:
            s.clock.now = now
            account, lic = s.account(seats=3)
            a, b, c = (s.device(account, name) for name in ("a", "b", "c"))
            with s.context.transaction() as session:
                made = administration.create_admin(session, "chart@vendor.example",
                                                   "correct horse battery", now, actor="test")
            for device, start, end in ((a, 8, 12), (b, 9, 10), (c, 11, 13)):
                s.clock.now = today - 3 * DAY + start * 3600
                lease = s.acquire(device, lic["id"])
                s.clock.now = today - 3 * DAY + end * 3600
                s.release(device, lease)
            s.clock.now = today - DAY + 10 * 3600
            lease = s.acquire(a, lic["id"])
            s.clock.now += 1800
            s.release(a, lease)
            s.clock.now = max(today + 1, now - 60)
            s.acquire(b, lic["id"])
        with ServerProcess(url, home=tmp_path / "home",
                           signing_key_path=tmp_path / "key.pem") as proc:
            api = Api(proc.url, proc.admin_token)
            try:
                wait_for(lambda: expect(api.admin_get(f"/v1/admin/licenses/{lic['id']}/usage"),
                                        200)["today_counted_at"], timeout=15)
            finally:
                api.close()
            sign_in(page, proc.url, {"email": made["email"], "password": "correct horse battery"})
            page.goto(f"{proc.url}/admin/licenses/{lic['id']}")
            chart = page.get_by_role("img", name=re.compile("Seats used and peak per day"))
            described = " ".join((chart.locator("desc").text_content() or "").split())
            english = Language("en", "en")  # a browser that names no language
            assert described == ("At most 3 devices in a day; the highest peak, 2 of 3 seats "
                                 f"at once, on {english.date(usage.day_name(today - 3 * DAY))}.")
            assert page.locator("svg .value-used").all_text_contents() == ["3", "1", "1"]
            assert page.locator("svg .value-peak").all_text_contents() == ["2", "1", "1"]
            fills = {page.locator(f"svg .bar-{series}").first.get_attribute("fill")
                     for series in ("used", "peak")}
            assert fills == {"url(#hatch)", "#5a6275"}  # a pattern and a solid: not colour
            page.get_by_text("The figures as a table").click()
            rows = [r.inner_text().split("\t") for r in page.locator("table.figures tbody tr")
                    .all()]
            assert [(r[0].removesuffix(" (today, so far)"), r[1], r[2]) for r in rows] == [
                (english.date(usage.day_name(today - days * DAY)), *figures) for days, figures in (
                    (0, ("1", "1")), (1, ("1", "1")), (2, ("0", "0")), (3, ("3", "2")))]
            shot = shoot(page, "usage")
            Image.open(shot).convert("L").save(shot.with_name("console-usage-grey.png"))
            fits_a_phone(browser, page, page.url, shoot, "usage")
            with page.expect_download() as info:
                page.get_by_role("link", name="Download CSV").click()
            lines = Path(info.value.path()).read_text(encoding="utf-8").splitlines()
            assert lines[0] == "day,seats_used,peak,seats_total,partial"
            assert lines[1] == f"{usage.day_name(today - 3 * DAY)},3,2,3,no"
            assert lines[-1] == f"{usage.day_name(today)},1,1,3,yes"
            german = browser.new_context(viewport=DESKTOP, locale="de-DE",
                                         storage_state=page.context.storage_state())
            try:
                seite = german.new_page()
                seite.goto(page.url)
                chart = seite.get_by_role("img", name=re.compile("Belegte Plätze und Spitze"))
                described = " ".join((chart.locator("desc").text_content() or "").split())
                day = Language("de", "de_DE").date(usage.day_name(today - 3 * DAY))
                assert described == ("Höchstens 3 Geräte an einem Tag; die höchste Spitze, 2 "
                                     f"von 3 Plätzen gleichzeitig, am {day}.")
                assert seite.locator("svg .value-used").all_text_contents() == ["3", "1", "1"]
                shoot(seite, "usage-de")
            finally:
                german.close()


def test_a_users_account_is_refused_by_the_console(
        console_server: ServerProcess, console_api: Api, page: Any) -> None:
    """A customer's right password on the console's form: refused, saying the console is
    for administrators; the console's pages stay closed."""
    account, _ = console_api.new_account()
    sign_in(page, console_server.url, account)
    assert "not an administrator's" in page.get_by_role("alert").inner_text()
    page.goto(f"{console_server.url}/admin/accounts")
    page.get_by_role("heading", name="Sign in to the console").wait_for()


def test_a_console_form_stripped_of_its_csrf_token_is_refused(
        console_server: ServerProcess, console_api: Api, admin: dict[str, str], page: Any,
        shoot: Callable[[Any, str], Path]) -> None:
    """Disable, submitted without the page's token: the refusal page, and the account
    still logs in."""
    account, _ = console_api.new_account()
    sign_in(page, console_server.url, admin)
    page.goto(f"{console_server.url}/admin/accounts/{account['id']}")
    page.evaluate("document.querySelectorAll('input[name=csrf]').forEach(e => e.remove())")
    page.get_by_role("button", name=f"Disable {account['email']}").click()
    page.get_by_role("heading", name="This form cannot be accepted").wait_for()
    shoot(page, "form-refused")
    console_api.login(account["email"], account["password"])


def test_console_sign_in_is_rate_limited(console_server: ServerProcess, console_db: str,
                                         page: Any) -> None:
    """Ten wrong passwords for an administrator: the eleventh try is refused, the right
    password too, with how long to wait."""
    other = {"email": f"ops-{secrets.token_hex(4)}@vendor.example",
             "password": "correct horse battery"}
    engine = make_engine(console_db)
    try:
        with session_factory(engine).begin() as session:
            administration.create_admin(session, other["email"], other["password"],
                                        int(time.time()), actor="test")
    finally:
        engine.dispose()
    page.goto(f"{console_server.url}/admin/sign-in")
    for _ in range(10):  # the refusal page is the form again, the email kept
        page.get_by_label("Email").fill(other["email"])
        page.get_by_label("Password").fill("not-the-password")
        page.get_by_role("button", name="Sign in").click()
        assert page.get_by_role("alert").inner_text() == "The email or the password is wrong."
    page.get_by_label("Password").fill(other["password"])
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.get_by_role("button", name="Sign in").click()
    assert answer.value.status == 429 and answer.value.headers["retry-after"].isdigit()
    assert "Too many failed logins" in page.get_by_role("alert").inner_text()
