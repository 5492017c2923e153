"""The portal in Chromium set to German and to French: the sign-in form, a wrong password,
the account page's dates, a browser login's approval, the language links; and the form
protections (CSRF, the password-guessing limit) exactly as in English.

`localised(locale)` (tests/support/browser.py) is a page whose Chromium speaks that locale.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.portal.conftest import PHONE, BrowserLogin
from tests.support.agent import AgentProcess
from tests.support.api import Api, expect
from tests.support.procs import ServerProcess

GERMAN_MOMENT = re.compile(r"\d\d\.\d\d\.\d{4}, \d\d:\d\d UTC")          # 07.12.2027, 22:56 UTC


# The sign-in form's labels and button, as a reader of each language finds them.
FORM = {"de": ("E-Mail", "Passwort", "Anmelden"), "fr": ("E-mail", "Mot de passe", "Se connecter")}


def _sign_in(page: Any, account: dict[str, Any], language: str) -> None:
    email, password, button = FORM[language]
    page.get_by_label(email, exact=True).fill(account["email"])
    page.get_by_label(password, exact=True).fill(account["password"])
    page.get_by_role("button", name=button).click()


def test_a_german_browser_gets_the_portal_in_german(
        portal_server: ServerProcess, portal_api: Api, localised: Callable[[str], Any],
        browser: Any,
        screenshots: Callable[[Any, str], Path]) -> None:
    """de-DE: the form in German, a wrong password refused in German, then the account page
    with its seats, its devices' ages and its dates as a German reader writes them; on a
    phone too, its longer words inside the screen."""
    device = portal_api.new_device(seats=3, device_name="büro-pc",
                                   expires_at="2030-12-31T23:59:00Z")
    assert device.account is not None
    expect(device.acquire(), 201)
    page = localised("de-DE")
    page.goto(f"{portal_server.url}/portal/sign-in")
    assert page.evaluate("document.documentElement.lang") == "de"
    page.get_by_role("heading", name="Anmelden").wait_for()
    _sign_in(page, {**device.account, "password": "falsch-falsch"}, "de")
    assert page.get_by_role("alert").inner_text() == "E-Mail-Adresse oder Passwort stimmen nicht."
    _sign_in(page, device.account, "de")
    page.get_by_role("heading", name="Ihre Lizenzen und Geräte").wait_for()
    main = page.inner_text("main")
    assert "1 von 3 Plätzen belegt" in main
    assert "Abonnement · Läuft ab am 31.12.2030, 23:59 UTC" in main
    row = page.get_by_role("row", name=re.compile("büro-pc")).inner_text()
    assert "Belegt einen Platz" in row and "gerade eben" in row and GERMAN_MOMENT.search(row)
    assert page.get_by_role("button", name="Fern-Deaktivierung einschalten").is_visible()
    screenshots(page, "account-de")
    phone = browser.new_context(viewport=PHONE, locale="de-DE",
                                storage_state=page.context.storage_state())
    try:
        small = phone.new_page()
        small.goto(f"{portal_server.url}/portal/account")
        assert small.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        screenshots(small, "account-de-phone")
    finally:
        phone.close()


def test_a_french_browser_gets_the_portal_in_french(
        portal_server: ServerProcess, portal_api: Api,
        localised: Callable[[str], Any]) -> None:
    """fr-FR: the same in French, dates with the month's French name."""
    device = portal_api.new_device(seats=2, device_name="portable-terrain", kind="perpetual",
                                   support_until="2031-06-30", max_borrow_s=36 * 3600)
    assert device.account is not None
    page = localised("fr-FR")
    page.goto(f"{portal_server.url}/portal/sign-in")
    assert page.evaluate("document.documentElement.lang") == "fr"
    _sign_in(page, {**device.account, "password": "pas-le-bon"}, "fr")
    assert (page.get_by_role("alert").inner_text()
            == "L’adresse e-mail ou le mot de passe est incorrect.")
    _sign_in(page, device.account, "fr")
    page.get_by_role("heading", name="Vos licences et vos appareils").wait_for()
    main = page.inner_text("main")
    assert "Postes utilisés\u00a0: 0 sur 2" in main
    assert "Perpétuelle · Support & Upgrade jusqu’au 30 juin 2031" in main
    assert ("Un poste peut être emprunté pour un usage hors ligne pendant 1 jour au plus."
            in main)
    row = page.get_by_role("row", name=re.compile("portable-terrain")).inner_text()
    assert "Aucun poste" in row and "jamais" in row  # never a heartbeat: no seat asked for


def test_a_browser_login_is_approved_in_german(
        portal_server: ServerProcess, portal_api: Api, localised: Callable[[str], Any],
        make_agent: Callable[..., AgentProcess],
        screenshots: Callable[[Any, str], Path]) -> None:
    """The page `seatkeeper login --browser` sends a person to, in German, approves the
    agent's login."""
    account, _ = portal_api.new_account(seats=2)
    agent = make_agent(portal_server.url, "vermessung-tablet")
    login = BrowserLogin(agent)
    try:
        page = localised("de-CH")
        page.goto(login.url)
        page.get_by_role("heading", name="Anmelden").wait_for()
        _sign_in(page, account, "de")
        page.get_by_role("heading", name="vermessung-tablet möchte sich anmelden").wait_for()
        facts = page.locator("dl.facts").inner_text()
        assert "gerade eben" in facts and GERMAN_MOMENT.search(facts), facts
        assert "(wo Sie gerade sind)" in facts
        screenshots(page, "approve-de")
        page.get_by_role("button", name="Bestätigen").click()
        page.get_by_role("heading", name="vermessung-tablet ist angemeldet").wait_for()
        code, out, err = login.finish()
    finally:
        login.kill()
    assert code == 0, out + err


def test_the_language_links_switch_and_remember(
        portal_server: ServerProcess, localised: Callable[[str], Any]) -> None:
    """A German browser chooses Français at the foot of the page: that page and the next
    come in French, the console too; English is one click back."""
    page = localised("de-DE")
    page.goto(f"{portal_server.url}/portal/sign-in?next=%2Fportal%2Faccount")
    page.get_by_role("navigation", name="Sprache").get_by_role("link", name="Français").click()
    page.get_by_role("heading", name="Se connecter").wait_for()
    assert page.url.endswith("/portal/sign-in?next=%2Fportal%2Faccount")
    assert page.get_by_role("navigation", name="Langue").get_by_text("Français").get_attribute(
        "aria-current") == "true"
    page.goto(f"{portal_server.url}/admin/sign-in")
    page.get_by_role("heading", name="Connexion à la console").wait_for()
    page.get_by_role("link", name="English").click()
    page.get_by_role("heading", name="Sign in to the console").wait_for()


def test_a_form_without_its_token_is_refused_in_german(
        portal_server: ServerProcess, portal_api: Api,
        localised: Callable[[str], Any]) -> None:
    """CSRF as before: the sign-in form stripped of its token is refused (403), in German."""
    account, _ = portal_api.new_account()
    page = localised("de-DE")
    page.goto(f"{portal_server.url}/portal/sign-in")
    page.locator('input[name="csrf"]').evaluate("input => input.remove()")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        _sign_in(page, account, "de")
    assert answer.value.status == 403
    page.get_by_role("heading", name="Dieses Formular kann nicht angenommen werden").wait_for()


def test_password_guessing_is_stopped_in_french_as_in_english(
        tmp_path: Path, localised: Callable[[str], Any]) -> None:
    """The limit as before (ten failures for one account from one address in five minutes):
    the eleventh try is refused with 429 and Retry-After, and says so in French. On a
    server of its own, so these failures count against no other test."""
    with ServerProcess(f"sqlite:///{tmp_path / 'limits.db'}", home=tmp_path / "home",
                       signing_key_path=tmp_path / "key.pem") as server:
        api = Api(server.url, server.admin_token)
        try:
            account, _ = api.new_account()
        finally:
            api.close()
        page = localised("fr-FR")
        page.goto(f"{server.url}/portal/sign-in")
        for _ in range(10):
            _sign_in(page, {**account, "password": "devinette"}, "fr")
            assert "incorrect" in page.get_by_role("alert").inner_text()
        with page.expect_response(lambda r: r.request.method == "POST") as answer:
            _sign_in(page, account, "fr")
        assert answer.value.status == 429 and int(answer.value.headers["retry-after"]) > 0
        alert = page.get_by_role("alert").inner_text()
        assert re.fullmatch(r"Trop de tentatives de connexion échouées\. Réessayez dans \d+ "
                            r"secondes?\.", alert), alert
