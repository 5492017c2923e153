"""The agent's catalogues: every message in the source is translated in each, and the .mo match.

The messages are extracted from agent/ now, with Babel as scripts/catalogues does, so a
string marked and not yet translated fails here, by name, in the language that lacks it.
"""

from __future__ import annotations

import gettext
import re
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from seatkeeper.i18n import DOMAIN, LANGUAGES, LOCALE_DIR

from tests.support.procs import REPO_ROOT

# A str.format field, or a %-placeholder (argparse's own messages).
FIELD = re.compile(r"\{\w+(?:![rsa])?\}|%\(\w+\)[rsd]|%[rsd]")


def source_messages() -> set[str | tuple[str, ...]]:
    """Every message marked in agent/ (a plural as its (singular, plural))."""
    found: set[str | tuple[str, ...]] = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
            str(REPO_ROOT / "agent")):
        found.add(message if isinstance(message, str) else tuple(message))
    return found


def catalogue(language: str) -> Catalog:
    path = LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    with path.open("rb") as handle:
        return read_po(handle, locale=language)


def forms(message: Message) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The message's id and its translation, each as a tuple (one item unless a plural)."""
    ids = message.id if isinstance(message.id, list | tuple) else (message.id,)
    strings = message.string if isinstance(message.string, list | tuple) \
        else (message.string or "",)
    return tuple(map(str, ids)), tuple(map(str, strings))


def key(message: object) -> str | tuple[str, ...]:
    identifier = message.id  # type: ignore[attr-defined]
    return identifier if isinstance(identifier, str) else tuple(identifier)


def test_the_source_marks_the_messages_people_read() -> None:
    """The extraction finds the tray's, the CLI's and the error tree's messages."""
    found = source_messages()
    assert {"Log out…", "Connect to a license server…", "Seat {used} of {total}",
            "The license server took too long to answer.",
            "Type the address of your license server, like {example}.",
            ("{count} day", "{count} days")} <= found
    assert len(found) > 250


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_message_is_translated(language: str) -> None:
    """Each message in the source has a translation (every plural form), none fuzzy; the
    catalogue keeps no message the source no longer has."""
    messages = {key(m): m for m in catalogue(language) if m.id}
    source = source_messages()
    missing = sorted(map(str, source - set(messages)))
    untranslated = sorted(str(k) for k, m in messages.items() if k in source and (
        m.fuzzy or not all(m.string if isinstance(m.string, tuple) else (m.string,))))
    stale = sorted(map(str, set(messages) - source))
    assert not missing, f"{language}: not in the catalogue (run scripts/catalogues): {missing}"
    assert not untranslated, f"{language}: not translated: {untranslated}"
    assert not stale, f"{language}: no longer in the source: {stale}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_translations_keep_every_placeholder(language: str) -> None:
    """A translation names the same {fields} (or %-placeholders) as its message, so
    .format() (or %) fills it."""
    wrong = []
    for message in catalogue(language):
        if not message.id:
            continue
        ids, strings = forms(message)
        wanted = set(FIELD.findall(ids[-1]))
        for index, string in enumerate(strings):
            fields = set(FIELD.findall(string))
            # A singular may say "the one seat" where English says "{total}".
            if fields != wanted and not (index == 0 and fields < wanted):
                wrong.append((ids[0], string))
    assert not wrong, f"{language}: placeholders differ: {wrong}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_compiled_catalogue_matches_its_po(language: str) -> None:
    """The shipped .mo says what the .po says (scripts/catalogues compiles it)."""
    mo = Path(LOCALE_DIR, language, "LC_MESSAGES", f"{DOMAIN}.mo")
    with mo.open("rb") as handle:
        compiled = gettext.GNUTranslations(handle)
    po = catalogue(language)
    plural = gettext.c2py(po.plural_expr)
    stale = []
    for message in po:
        if not message.id:
            continue
        ids, strings = forms(message)
        if len(ids) == 2:
            stale += [ids[0] for count in (1, 2, 5)
                      if compiled.ngettext(ids[0], ids[1], count) != strings[plural(count)]]
        elif compiled.gettext(ids[0]) != strings[0]:
            stale.append(ids[0])
    assert not stale, f"{language}: the .mo is older than the .po for {sorted(set(stale))}; " \
        "run scripts/catalogues"
