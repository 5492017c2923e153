"""The reader's language: chosen from Accept-Language (quality values honoured) or the
language links' cookie, English otherwise; dates written for the locale; the API's JSON
untouched. Pages are fetched from the real server over HTTP."""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest
import requests
from seatkeeper_server import i18n
from seatkeeper_server.i18n import Language, negotiate
from seatkeeper_server.text import Plural, Text

from tests.support.api import TIMEOUT_S, Api
from tests.support.portal import csrf_of
from tests.support.procs import ServerProcess

MOMENT = 1_924_991_940  # 2030-12-31 23:59 UTC


@pytest.mark.parametrize(("header", "chosen", "code", "locale"), [
    ("de-CH,de;q=0.9,en;q=0.8", None, "de", "de_CH"),
    ("fr-FR,fr;q=0.9", None, "fr", "fr_FR"),
    ("en-US,en;q=0.9", None, "en", "en_US"),
    ("it-CH, fr-CH;q=0.7, de-CH;q=0.8", None, "de", "de_CH"),   # Italian: not ours; best next
    ("de;q=0.5, fr;q=0.6", None, "fr", "fr"),                   # the order is the quality's
    ("fr;q=0, de;q=0.1", None, "de", "de"),                     # q=0: not acceptable
    ("de;q=0.8, fr;q=0.8", None, "de", "de"),                   # equal: the header's order
    ("FR-be", None, "fr", "fr_BE"),                             # case does not matter
    ("de-XX", None, "de", "de"),                                # a region Babel does not know
    ("*", None, "en", "en"),
    ("es, pt-BR;q=0.9", None, "en", "en"),                      # nothing of ours: English
    ("", None, "en", "en"),
    ("de;q=abc, fr;q=2, ;q=1, 12", None, "en", "en"),           # malformed ranges left out
    ("de-CH", "fr", "fr", "fr"),                                # the cookie wins
    ("fr-CH, de-DE;q=0.5", "de", "de", "de_DE"),                # its region from the header
    ("de-CH", "klingon", "de", "de_CH"),                        # a cookie not ours: ignored
])
def test_the_language_follows_the_cookie_then_accept_language(
        header: str, chosen: str | None, code: str, locale: str) -> None:
    """Which catalogue and which locale a request gets."""
    assert negotiate(header, chosen) == Language(code, locale)


def test_a_huge_accept_language_is_read_in_bounded_time() -> None:
    """Only the first ranges count: a header of thousands is no work to speak of."""
    assert negotiate(",".join(["xx"] * 50_000) + ",de") == i18n.ENGLISH


def test_dates_and_ages_are_written_for_the_locale() -> None:
    """The same moment as an American, a Swiss German and a French reader read it."""
    assert Language("en", "en_US").datetime(MOMENT) == "Dec 31, 2030, 11:59\u202fPM UTC"
    assert Language("de", "de_CH").datetime(MOMENT) == "31.12.2030, 23:59 UTC"
    assert Language("fr", "fr_FR").datetime(MOMENT) == "31 déc. 2030, 23:59 UTC"
    assert Language("de", "de_DE").datetime(MOMENT, seconds=True) == "31.12.2030, 23:59:00 UTC"
    assert Language("fr", "fr_CH").date("2027-06-30") == "30 juin 2027"
    assert Language("de", "de_DE").number(0.5) == "0,5"
    assert Language("de", "de_CH").number(0.5) == "0.5"  # the Swiss write a point
    german, french = Language("de", "de"), Language("fr", "fr")
    now = MOMENT
    assert german.ago(now - 3 * 3600, now) == "vor 3 Stunden"
    assert french.ago(now - 120, now) == "il y a 2 minutes"
    assert german.ago(now - 5, now) == "gerade eben" and french.ago(None, now) == "jamais"


def test_a_refusal_is_english_for_the_api_and_translated_for_a_page() -> None:
    """A Text keeps its English (the JSON's message) and says itself in each language,
    plurals included."""
    wait = Plural("Too many failed logins. Try again in %(num)d second.",
                  "Too many failed logins. Try again in %(num)d seconds.", 1)
    assert wait.english() == "Too many failed logins. Try again in 1 second."
    assert Language("de", "de").say(wait) == ("Zu viele fehlgeschlagene Anmeldungen. "
                                              "Versuchen Sie es in 1 Sekunde noch einmal.")
    missing = Text("No account %(id)s.", id="acc_1")
    assert str(missing) == "No account acc_1."
    assert Language("fr", "fr").say(missing) == "Aucun compte acc_1."


def _get(server: ServerProcess, path: str, language: str = "",
         cookies: dict[str, str] | None = None) -> requests.Response:
    return requests.get(server.url + path, headers={"Accept-Language": language},
                        cookies=cookies, timeout=TIMEOUT_S, allow_redirects=False)


def _heading(html: str) -> str:
    found = re.search(r"<h1>([^<]*)</h1>", html)
    assert found, html[:500]
    return found.group(1)


def test_pages_come_in_the_browsers_language(server: ServerProcess) -> None:
    """The portal's and the console's sign-in pages, in German and French, saying so in
    `<html lang>` and Content-Language, and varying by the headers that chose it."""
    for path, language, lang, heading in (
            ("/portal/sign-in", "de-CH,de;q=0.9", "de", "Anmelden"),
            ("/portal/sign-in", "fr-CH,fr;q=0.9", "fr", "Se connecter"),
            ("/portal/sign-in", "es", "en", "Sign in"),
            ("/admin/sign-in", "de-DE", "de", "Anmelden an der Konsole"),
            ("/admin/sign-in", "fr-FR", "fr", "Connexion à la console")):
        page = _get(server, path, language)
        assert page.status_code == 200
        assert f'<html lang="{lang}">' in page.text and _heading(page.text) == heading
        assert page.headers["Content-Language"] == lang
        assert page.headers["Vary"] == "Accept-Language, Cookie"


def test_the_language_links_remember_a_choice(server: ServerProcess) -> None:
    """Choosing Français on a German browser: a cookie for the whole site, back to the same
    page, now in French; a return address off the site is not followed."""
    chosen = _get(server, "/portal/language?to=fr&next=/admin/sign-in%3Fnext%3D%252Fadmin",
                  "de-CH")
    assert chosen.status_code == 303
    assert chosen.headers["location"] == "/admin/sign-in?next=%2Fadmin"
    cookie = chosen.headers["set-cookie"]
    assert cookie.startswith("seatkeeper_lang=fr;") and "Path=/" in cookie
    assert "samesite=lax" in cookie.lower()
    page = _get(server, "/admin/sign-in", "de-CH", cookies={"seatkeeper_lang": "fr"})
    assert _heading(page.text) == "Connexion à la console"
    for target in ("https://evil.example/", "//evil.example/portal", "/v1/account",
                   "/portal\\..\\x"):
        away = _get(server, f"/portal/language?to=de&next={quote(target, safe='')}")
        assert away.headers["location"] == "/portal", target
    unknown = _get(server, "/portal/language?to=xx&next=/portal/sign-in")
    assert unknown.status_code == 303 and "set-cookie" not in unknown.headers
    sign_in = _get(server, "/portal/sign-in", "fr")
    assert ('href="/portal/language?to=de&amp;next=/portal/sign-in" lang="de" hreflang="de">'
            'Deutsch</a>') in sign_in.text


def test_a_wrong_password_is_refused_in_the_readers_language(server: ServerProcess) -> None:
    """The portal's form refuses a wrong password in German; CSRF still guards it."""
    session = requests.Session()
    session.headers["Accept-Language"] = "de-CH"
    try:
        form = session.get(f"{server.url}/portal/sign-in", timeout=TIMEOUT_S)
        refused = session.post(f"{server.url}/portal/sign-in", timeout=TIMEOUT_S, data={
            "csrf": csrf_of(form.text), "email": "nobody@example.com", "password": "wrong"})
        assert refused.status_code == 401
        assert ('role="alert">E-Mail-Adresse oder Passwort stimmen nicht.</p>'
                in refused.text)
        forged = session.post(f"{server.url}/portal/sign-in", timeout=TIMEOUT_S, data={
            "csrf": "forged", "email": "nobody@example.com", "password": "wrong"})
        assert forged.status_code == 403
        assert _heading(forged.text) == "Dieses Formular kann nicht angenommen werden"
    finally:
        session.close()


def test_the_api_answers_in_english_whatever_the_browser_asks(server: ServerProcess) -> None:
    """JSON errors keep their code and their English message under Accept-Language: de."""
    api = Api(server.url, server.admin_token)
    try:
        answer = api.post("/v1/auth/password", headers={"Accept-Language": "de-CH"}, json={
            "email": "nobody@example.com", "password": "wrong-password",
            "device": {"fingerprint": "ab" * 32, "name": "pc", "platform": "linux"}})
        assert answer.status_code == 401
        error = answer.json()["error"]
        assert error["code"] == "UNAUTHENTICATED"
        assert error["message"].isascii() and "Passwort" not in error["message"]
        assert "Content-Language" not in answer.headers
        missing = api.admin_get("/v1/admin/licenses/lic_nothing",
                                headers={"Accept-Language": "fr"})
        assert missing.json()["error"] == {"code": "NOT_FOUND", "message":
                                           "No license lic_nothing.", "details": {}}
    finally:
        api.close()


def test_a_form_this_site_never_sends_is_refused_in_the_readers_language(
        server: ServerProcess) -> None:
    """Too many fields, or a NUL: the 400 page says what was wrong, in French and German."""
    crowded = requests.post(f"{server.url}/admin/sign-in", timeout=TIMEOUT_S,
                            headers={"Accept-Language": "fr-CH"},
                            data={f"f{n}": "x" for n in range(30)})
    assert crowded.status_code == 400 and '<html lang="fr">' in crowded.text
    assert ("Le formulaire a plus de 20 champs; ceux de ce site n’en ont que quelques-uns. "
            "Revenez en arrière, rechargez la page et réessayez.") in crowded.text
    nul = requests.post(f"{server.url}/portal/sign-in", timeout=TIMEOUT_S,
                        headers={"Accept-Language": "de"}, data={"email": "a\x00b"})
    assert nul.status_code == 400 and _heading(nul.text) == "Dieses Formular ist nicht lesbar"
    assert "Das Formularfeld &#39;email&#39; enthält ein NUL-Zeichen" in nul.text


def test_every_audit_event_has_a_name_on_the_console() -> None:
    """The trail shows each event by a name a person reads (and its code beside it): an
    event added to the audit without one would show its bare code."""
    from seatkeeper_server.console import words
    from seatkeeper_server.services import audit

    assert set(words.EVENTS) == set(audit.EVENTS)
