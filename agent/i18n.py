"""The agent's language: English, German or French words for everything a person reads.

Strings are marked with `_()` (plural: `ngettext()`, with a context: `pgettext()`;
`N_()` marks one that is translated later, where it is used) and extracted with Babel
into `locale/<lang>/LC_MESSAGES/seatkeeper.po`; the compiled `.mo` files ship beside
them. The language is the `language` setting when set (`use()`), else the OS locale:
`LANGUAGE`, `LC_ALL`, `LC_MESSAGES`, `LANG` in that order on POSIX (on macOS, where
launchd sets none of them, the languages of System Settings next), the user's UI language
on Windows. Only the standard library's `gettext` runs here (no Babel: the
agent stays lean), and dates use the catalogues' own day and month names, not the C
library's locale, so they follow the chosen language whatever the process's locale is.
"""

from __future__ import annotations

import datetime as dt
import gettext as _gettext
import os
import sys
from collections.abc import Mapping
from pathlib import Path

DOMAIN = "seatkeeper"
LANGUAGES = ("en", "de", "fr")
DEFAULT = "en"
LOCALE_DIR = Path(__file__).with_name("locale")
# Windows LANGIDs' primary language (the low 10 bits) for the languages we have.
WINDOWS_PRIMARY = {0x09: "en", 0x07: "de", 0x0C: "fr"}
POSIX_VARIABLES = ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")

_translation: _gettext.NullTranslations | None = None
_language = DEFAULT


def _supported(tag: str) -> str | None:
    """`de` for `de_CH.UTF-8`, `de-AT` or `de`; None for a language we do not have."""
    base = tag.strip().split(".")[0].split("@")[0].replace("-", "_").split("_")[0].lower()
    return base if base in LANGUAGES else None


def posix_language(env: Mapping[str, str]) -> str | None:
    """The language the POSIX locale variables ask for, as gettext reads them: the first
    one set decides (`LANGUAGE` may list several, `de:fr`); `C` and `POSIX` mean English."""
    for name in POSIX_VARIABLES:
        value = env.get(name, "")
        if not value:
            continue
        for tag in value.split(":"):
            if tag.split(".")[0] in ("C", "POSIX"):
                return DEFAULT
            found = _supported(tag)
            if found:
                return found
        if name != "LANGUAGE":  # a LANGUAGE list without ours falls through to the rest
            return None
    return None


def _windows_ui_langid() -> int:
    """kernel32's GetUserDefaultUILanguage: the language of the user's Windows."""
    import ctypes

    windll = getattr(ctypes, "windll")  # noqa: B009 (absent off Windows, for mypy too)
    return int(windll.kernel32.GetUserDefaultUILanguage())


def _macos_preferred_languages() -> list[str]:
    """The user's languages in System Settings, first first (`de-CH`, `en-GB`): a session
    started by launchd sets no LANG."""
    from Foundation import NSLocale  # pyobjc, a dependency on macOS

    return [str(tag) for tag in NSLocale.preferredLanguages()]


def windows_language(langid: int) -> str | None:
    """Our language for a Windows LANGID (0x0807, Swiss German: `de`)."""
    return WINDOWS_PRIMARY.get(langid & 0x3FF)


def os_language(env: Mapping[str, str] | None = None, platform: str = sys.platform) -> str:
    """The language this user's system asks for, among ours (English when none fits)."""
    env = os.environ if env is None else env
    if platform == "win32":  # Windows has no locale variables of its own (Wine passes them)
        try:
            return windows_language(_windows_ui_langid()) or DEFAULT
        except (OSError, AttributeError):
            return DEFAULT
    found = posix_language(env)
    if found is None and platform == "darwin":
        try:
            found = next(filter(None, map(_supported, _macos_preferred_languages())), None)
        except (ImportError, AttributeError):
            found = None
    return found or DEFAULT


def use(language: str | None = None) -> str:
    """Speak `language` from now on (None: the OS locale's); returns the one in use."""
    global _translation, _language
    _language = language if language in LANGUAGES else os_language()
    _translation = _gettext.translation(DOMAIN, localedir=str(LOCALE_DIR),
                                        languages=[_language], fallback=True)
    return _language


def current() -> str:
    """The language in use (`en`, `de` or `fr`)."""
    if _translation is None:
        use()
    return _language


def _catalogue() -> _gettext.NullTranslations:
    if _translation is None:
        use()
    assert _translation is not None
    return _translation


def _(message: str) -> str:
    """`message` in the language in use."""
    return _catalogue().gettext(message)


def ngettext(singular: str, plural: str, count: int) -> str:
    """The singular or plural, as the language in use says `count` of something."""
    return _catalogue().ngettext(singular, plural, count)


def pgettext(context: str, message: str) -> str:
    """`message` in the language in use, told apart by `context` (`May` the month)."""
    return _catalogue().pgettext(context, message)


def N_(message: str) -> str:
    """Mark `message` for the catalogues; it is translated where it is used."""
    return message


WEEKDAYS = (N_("Mon"), N_("Tue"), N_("Wed"), N_("Thu"), N_("Fri"), N_("Sat"), N_("Sun"))
MONTHS = (N_("Jan"), N_("Feb"), N_("Mar"), N_("Apr"), N_("May"), N_("Jun"), N_("Jul"),
          N_("Aug"), N_("Sep"), N_("Oct"), N_("Nov"), N_("Dec"))


def time_of_day(value: dt.datetime) -> str:
    """`14:05`: all three languages write the 24-hour clock."""
    return value.strftime("%H:%M")


def day_and_time(value: dt.datetime) -> str:
    """`Thu 3 Dec 14:05`, `Do., 3. Dez., 14:05`, `jeu. 3 déc. 14:05`."""
    return _("{weekday} {day} {month} {time}").format(
        weekday=_(WEEKDAYS[value.weekday()]), day=value.day,
        month=_(MONTHS[value.month - 1]), time=time_of_day(value))


def date(value: dt.date) -> str:
    """`3 Dec 2026`, `3. Dez. 2026`, `3 déc. 2026`."""
    return _("{day} {month} {year}").format(
        day=value.day, month=_(MONTHS[value.month - 1]), year=value.year)
