"""Languages of the portal and the console: the reader's language, chosen once per request.

The language is English, German or French: the `seatkeeper_lang` cookie (the page's
language links set it) if it names one, else the browser's `Accept-Language` (quality
values honoured), else English. How dates and numbers are written follows the region the
browser asked for where Babel knows it (`de-CH`: Swiss), else the language's own.

`Speak` (an ASGI middleware) decides it for each request to /portal and /admin and keeps it
in a context variable, which the routes' `_()`, the templates (one Jinja2 environment per
language, gettext installed) and the date filters read. The API's JSON is never translated.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_time, format_timedelta, get_datetime_format
from babel.numbers import format_decimal
from babel.support import Translations
from jinja2 import Environment, FileSystemLoader, select_autoescape
from seatkeeper_server import text

LANGUAGES = {"en": "English", "de": "Deutsch", "fr": "Français"}
DEFAULT = "en"
COOKIE = "seatkeeper_lang"
COOKIE_MAX_AGE_S = 365 * 86400
DOMAIN = "seatkeeper_server"
LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"
PATHS = ("/portal", "/admin")
MAX_RANGES = 20  # of an Accept-Language header; a browser sends a few


class CatalogueMissing(RuntimeError):
    """A language's compiled catalogue is not installed (a broken installation)."""


@functools.cache
def translations(code: str) -> Translations:
    """The compiled catalogue of `code` (en, de or fr), read once."""
    path = LOCALE_DIR / code / "LC_MESSAGES" / f"{DOMAIN}.mo"
    try:
        with path.open("rb") as file:
            return Translations(file, domain=DOMAIN)
    except FileNotFoundError:
        raise CatalogueMissing(f"the {LANGUAGES[code]} catalogue is missing: {path} "
                               "(reinstall the server)") from None


@dataclass(frozen=True)
class Language:
    """One reader's language: `code` names the catalogue and `<html lang>`; `locale` says
    how dates and numbers are written (`de_CH`)."""

    code: str
    locale: str

    @property
    def name(self) -> str:
        return LANGUAGES[self.code]

    def gettext(self, message: str) -> str:
        return translations(self.code).gettext(message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return translations(self.code).ngettext(singular, plural, n)

    def say(self, message: text.Text | str) -> str:
        """A Text in this language; a plain string as it is."""
        if isinstance(message, text.Text):
            return message.translated(self.gettext, self.ngettext)
        return message

    def datetime(self, epoch: float | None, *, seconds: bool = False) -> str:
        """`Dec 31, 2030, 11:59 PM UTC`, `31.12.2030, 23:59 UTC`; empty for None."""
        if epoch is None:
            return ""
        moment = dt.datetime.fromtimestamp(epoch, dt.UTC)
        day = format_date(moment, "medium", locale=self.locale)
        time = format_time(moment, "medium" if seconds else "short", tzinfo=dt.UTC,
                           locale=self.locale)
        glue = str(get_datetime_format("medium", locale=self.locale))
        return glue.replace("{1}", day).replace("{0}", time) + " UTC"

    def date(self, day: str | dt.date | None) -> str:
        """A day (`2027-06-30`) as the locale writes it: `Jun 30, 2027`, `30.06.2027`."""
        if not day:
            return ""
        value = dt.date.fromisoformat(day) if isinstance(day, str) else day
        return format_date(value, "medium", locale=self.locale)

    def number(self, value: float) -> str:
        return format_decimal(value, locale=self.locale)

    def ago(self, then: int | None, now: int) -> str:
        """`just now`, `5 minutes ago`, `vor 3 Stunden`; `never` for None."""
        if then is None:
            return self.gettext("never")
        seconds = max(0, now - then)
        if seconds < 60:
            return self.gettext("just now")
        return format_timedelta(dt.timedelta(seconds=-seconds), add_direction=True,
                                threshold=1, locale=self.locale)


ENGLISH = Language(DEFAULT, DEFAULT)
_current: contextvars.ContextVar[Language] = contextvars.ContextVar("language",
                                                                   default=ENGLISH)
_here: contextvars.ContextVar[str] = contextvars.ContextVar("here", default="/portal")


def current() -> Language:
    """The language of the page being made (English outside any request)."""
    return _current.get()


def use(language: Language) -> contextvars.Token[Language]:
    return _current.set(language)


def _(message: str) -> str:
    """`message` in the reader's language."""
    return current().gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return current().ngettext(singular, plural, n)


def say(message: text.Text | str) -> str:
    """A refusal's words (a Text, or a string no one marked) in the reader's language."""
    return current().say(message)


def said(exc: Exception) -> str:
    """What an ApiError or a BadForm says, in the reader's language."""
    words = getattr(exc, "text", None)
    return say(words) if isinstance(words, text.Text) else str(getattr(exc, "message", exc))


def _ranges(header: str) -> list[tuple[str, str | None]]:
    """(language, region) of each range of an Accept-Language header, best first; q=0 and
    malformed ranges left out, equal qualities in the header's order."""
    weighted = []
    for position, item in enumerate(header.split(",", MAX_RANGES)[:MAX_RANGES]):
        tag, _sep, params = item.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _eq, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = -1.0
        parts = tag.strip().replace("_", "-").split("-")
        if not 0 < quality <= 1 or not parts[0] or not (parts[0].isalpha() or parts[0] == "*"):
            continue
        region = parts[1].upper() if len(parts) > 1 and len(parts[1]) == 2 else None
        weighted.append((-quality, position, parts[0].lower(), region))
    return [(language, region) for _q, _p, language, region in sorted(weighted)]


@functools.cache
def _language(code: str, region: str | None) -> Language:
    if region:
        try:
            if Locale.parse(f"{code}_{region}").territory == region:
                return Language(code, f"{code}_{region}")
        except (UnknownLocaleError, ValueError):
            pass
    return Language(code, code)


def negotiate(accept_language: str | None, chosen: str | None = None) -> Language:
    """The reader's language: `chosen` (the cookie) if it is one of ours, else the best of
    Accept-Language that is, else English. The region comes from Accept-Language."""
    ranges = _ranges(accept_language or "")
    if chosen in LANGUAGES:
        assert chosen is not None
        regions = [region for language, region in ranges if language == chosen]
        return _language(chosen, regions[0] if regions else None)
    for language, region in ranges:
        if language == "*":
            return ENGLISH
        if language in LANGUAGES:
            return _language(language, region)
    return ENGLISH


class Speak:
    """ASGI middleware: each request to the portal or the console in its reader's language."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(PATHS):
            await self.app(scope, receive, send)
            return
        headers = {name: value for name, value in scope["headers"]
                   if name in (b"accept-language", b"cookie")}
        token = use(negotiate(headers.get(b"accept-language", b"").decode("latin-1"),
                              _cookie(headers.get(b"cookie", b"").decode("latin-1"))))
        here = _here.set(_back_to(scope))
        try:
            await self.app(scope, receive, send)
        finally:
            _here.reset(here)
            _current.reset(token)


def _back_to(scope: Any) -> str:
    """Where a language link returns to: this page, or (after a form) its part's home."""
    path: str = scope["path"]
    if scope["method"] != "GET":
        return "/admin" if path.startswith("/admin") else "/portal"
    query = scope.get("query_string", b"").decode("latin-1")
    return path + (f"?{query}" if query else "")


def here() -> str:
    """The page being made, for its language links (seatkeeper_server.portal.routes.language)."""
    return _here.get()


def safe_return(target: str) -> str:
    """`target` if it is a page of the portal or the console, else the portal."""
    ok = (target.startswith(PATHS) and not target.startswith("//") and "\\" not in target
          and "\r" not in target and "\n" not in target)
    return target if ok else "/portal"


def _cookie(header: str) -> str | None:
    for pair in header.split(";"):
        name, _eq, value = pair.strip().partition("=")
        if name == COOKIE:
            return value.strip().strip('"')
    return None


# Partials the portal and the console share (the language links).
SHARED_TEMPLATES = Path(__file__).with_name("templates")


class Templates:
    """A folder's Jinja2 templates (and the shared partials), one environment per language
    with its catalogue installed (`_()`, `ngettext`, `{% trans %}`), and the date and
    number filters."""

    def __init__(self, folder: Path, **globals_: Any) -> None:
        self.environments = {code: self._environment(folder, code, globals_)
                             for code in LANGUAGES}

    @staticmethod
    def _environment(folder: Path, code: str, globals_: dict[str, Any]) -> Environment:
        env = Environment(loader=FileSystemLoader([folder, SHARED_TEMPLATES]),
                          autoescape=select_autoescape(["html"]), trim_blocks=True,
                          lstrip_blocks=True, extensions=["jinja2.ext.i18n"])
        env.policies["ext.i18n.trimmed"] = True
        env.install_gettext_translations(translations(code), newstyle=True)  # type: ignore[attr-defined]
        env.filters.update(
            datetime=lambda epoch: current().datetime(epoch),
            seconds=lambda epoch: current().datetime(epoch, seconds=True),
            date=lambda day: current().date(day),
            number=lambda value: current().number(value))
        env.globals.update(globals_)
        return env

    def render(self, template: str, **values: Any) -> str:
        language = current()
        return self.environments[language.code].get_template(template).render(
            lang=language, languages=LANGUAGES, here=here(), **values)
