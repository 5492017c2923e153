"""The console in Chromium set to German and to French: signing in (and a wrong password),
the accounts, a license with its live seats and usage chart, the audit trail and a
refused filter, each in the reader's language with dates written for the locale; a form
without its CSRF token refused as before. The screenshots of the German console land in
artefacts/screenshots/ (the README shows them, from docs/images/)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.console.conftest import fits_a_phone
from tests.support.api import Api, expect
from tests.support.procs import ServerProcess

GERMAN_MINUTE = re.compile(r"\d\d\.\d\d\.\d{4}, \d\d:\d\d UTC")
GERMAN_SECOND = re.compile(r"\d\d\.\d\d\.\d{4}, \d\d:\d\d:\d\d UTC")
FRENCH_SECOND = re.compile(r"\d{1,2} [a-zéû]{3,5}\.? \d{4}, \d\d:\d\d:\d\d UTC")


def _sign_in(page: Any, url: str, who: dict[str, str], email: str, password: str,
             button: str) -> None:
    page.goto(f"{url}/admin/sign-in")
    page.get_by_label(email, exact=True).fill(who["email"])
    page.get_by_label(password, exact=True).fill(who["password"])
    page.get_by_role("button", name=button).click()


def test_a_german_administrator_works_in_german(
        console_server: ServerProcess, console_api: Api, admin: dict[str, str], browser: Any,
        localised: Callable[[str], Any], shoot: Callable[[Any, str], Path]) -> None:
    """de-DE: a wrong password refused in German; then the accounts, an account and its
    license (live seats, the chart) in German, every date as 31.12.2030, 23:59 UTC."""
    account, lic = console_api.new_account(seats=2, expires_at="2030-12-31T23:59:00Z",
                                           max_borrow_s=43200)
    device = console_api.login(account["email"], account["password"], name="messwagen-3")
    expect(device.acquire(), 201)
    url, page = console_server.url, localised("de-DE")
    _sign_in(page, url, {**admin, "password": "nicht-das-passwort"}, "E-Mail", "Passwort",
             "Anmelden")
    assert page.get_by_role("alert").inner_text() == "E-Mail-Adresse oder Passwort stimmen nicht."
    assert page.evaluate("document.documentElement.lang") == "de"
    _sign_in(page, url, admin, "E-Mail", "Passwort", "Anmelden")
    page.get_by_role("heading", name="Konten").wait_for()
    row = page.get_by_role("row", name=re.compile(re.escape(account["email"]))).inner_text()
    assert "Benutzer" in row and "Aktiv" in row and GERMAN_MINUTE.search(row), row
    shoot(page, "accounts-de")
    page.get_by_role("link", name=account["email"]).click()
    facts = page.locator("dl.facts").inner_text()
    assert "Rolle\nBenutzer" in facts and "Fern-Deaktivierung\nAus" in facts, facts
    page.get_by_role("link", name="PIX4Dmapper Yearly").first.click()
    facts = page.locator("dl.facts").inner_text()
    assert "Läuft ab\n31.12.2030, 23:59 UTC" in facts, facts
    assert "Belegte Plätze\n1 von 2" in facts and "bis zu 0.5 Tage" not in facts
    assert "bis zu 0,5 Tage" in facts  # de-DE writes a decimal comma
    seat = page.get_by_role("row", name=re.compile("messwagen-3")).inner_text()
    assert len(GERMAN_SECOND.findall(seat)) == 3, seat  # since, last heartbeat, held until
    chart = page.get_by_role("img", name=re.compile("Belegte Plätze und Spitze pro Tag"))
    assert re.search(r"\d\d\.\d\d\.\d{4} bis \d\d\.\d\d\.\d{4}",
                     chart.locator("#chart-title").text_content() or "")
    assert page.get_by_role("button", name="Platz von messwagen-3 zwangsweise freigeben")
    shoot(page, "license-de")
    assert lic["id"] in page.url
    fits_a_phone(browser, page, page.url, shoot, "license-de", locale="de-DE")
    fits_a_phone(browser, page, f"{url}/admin/accounts/{account['id']}", shoot, "account-de",
                 locale="de-DE")


def test_a_french_administrator_reads_the_audit_trail_in_french(
        console_server: ServerProcess, admin: dict[str, str], browser: Any,
        localised: Callable[[str], Any], shoot: Callable[[Any, str], Path]) -> None:
    """fr-FR: the trail's times to the second as 7 déc. 2026, 08:00:00 UTC; a filter it
    cannot read refused in French, with the status a script sees (400)."""
    url, page = console_server.url, localised("fr-FR")
    _sign_in(page, url, admin, "E-mail", "Mot de passe", "Se connecter")
    page.get_by_role("heading", name="Comptes").wait_for()
    page.get_by_role("link", name="Journal d’audit").click()
    page.get_by_role("heading", name="Journal d’audit").wait_for()
    first = page.locator("table.audit tbody tr").first.inner_text()
    assert FRENCH_SECOND.search(first), first
    assert "Connexion à la console console_sign_in" in first  # its name, and its code
    shoot(page, "audit-fr")
    fits_a_phone(browser, page, page.url, shoot, "audit-fr", locale="fr-FR")
    page.get_by_label("Depuis (date ou heure UTC)").fill("hier")
    with page.expect_response(lambda r: "/admin/audit?" in r.url) as answer:
        page.get_by_role("button", name="Filtrer").click()
    assert answer.value.status == 400
    assert page.get_by_role("alert").inner_text() == (
        "«\u00a0Depuis\u00a0» doit être une date (AAAA-MM-JJ) ou un instant comme "
        "2026-11-29T08:00:00Z.")


def test_a_console_form_without_its_token_is_refused_in_german(
        console_server: ServerProcess, console_api: Api, admin: dict[str, str],
        localised: Callable[[str], Any]) -> None:
    """CSRF as before: Disable posted without the session's token is refused (403) and the
    account stays enabled."""
    account, _ = console_api.new_account()
    url, page = console_server.url, localised("de-DE")
    _sign_in(page, url, admin, "E-Mail", "Passwort", "Anmelden")
    page.get_by_role("heading", name="Konten").wait_for()
    page.goto(f"{url}/admin/accounts/{account['id']}")
    form = page.locator(f'form[action="/admin/accounts/{account["id"]}/disable"]')
    form.locator('input[name="csrf"]').evaluate("input => input.remove()")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.get_by_role("button", name=f"{account['email']} sperren").click()
    assert answer.value.status == 403
    page.get_by_role("heading", name="Dieses Formular kann nicht angenommen werden").wait_for()
    page.goto(f"{url}/admin/accounts/{account['id']}")
    assert "Status\nAktiv" in page.locator("dl.facts").inner_text()
