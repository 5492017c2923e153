"""The catalogues: extract every message from the server's code and templates, merge them
into each language's .po, compile the .mo files that ship in the wheel, check them.

    python -m seatkeeper_server.i18n.catalog update    extract, merge into every .po
    python -m seatkeeper_server.i18n.catalog compile   every .po -> its .mo
    python -m seatkeeper_server.i18n.catalog check     exit 1 naming each gap

English is the source: its catalogue's translations are the messages themselves. German
and French are written by hand in their .po; `update` leaves a new message untranslated
there, and `check` (and tests/server/test_catalogues.py) refuses it until it is written.
"""

from __future__ import annotations

import copy
import io
import re
import sys
from collections.abc import Iterable
from pathlib import Path

from babel.messages.catalog import Catalog, Message
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po, write_po
from seatkeeper_server.i18n import DEFAULT, DOMAIN, LANGUAGES, LOCALE_DIR

SOURCE = LOCALE_DIR.parent  # server/, installed as seatkeeper_server/
METHODS = [("migrations/**", "ignore"), ("**/templates/**.html", "jinja2.ext:babel_extract"),
           ("**.py", "python")]
OPTIONS = {"**/templates/**.html": {"extensions": "jinja2.ext.i18n", "trimmed": "true",
                                    "newstyle_gettext": "true"}}
KEYWORDS = {**DEFAULT_KEYWORDS, "N_": None, "Text": (1,), "Plural": (1, 2)}

PLACEHOLDER = re.compile(r"%\((\w+)\)[sdr]")


def extract(source: Path = SOURCE) -> Catalog:
    """Every message the code and the templates mark, with where each one is used."""
    template = Catalog(domain=DOMAIN, project="Seatkeeper server", fuzzy=False)
    for filename, lineno, message, comments, context in extract_from_dir(
            source, METHODS, OPTIONS, KEYWORDS, comment_tags=("Translators:",),
            strip_comment_tags=True):
        template.add(message, None, [(filename, lineno)], auto_comments=comments,
                     context=context)
    return template


def po_path(code: str) -> Path:
    return LOCALE_DIR / code / "LC_MESSAGES" / f"{DOMAIN}.po"


def mo_path(code: str) -> Path:
    return po_path(code).with_suffix(".mo")


def read(code: str) -> Catalog:
    with po_path(code).open("rb") as file:
        return read_po(file, locale=code, domain=DOMAIN)


def _strings_of(value: str | tuple[str, ...] | list[str]) -> tuple[str, ...]:
    return tuple(value) if isinstance(value, tuple | list) else (value,)


def _strings(message: Message) -> tuple[str, ...]:
    return _strings_of(message.string or "")


def _written(message: Message) -> bool:
    return all(_strings(message)) and not message.fuzzy


def _places(*strings: str) -> set[str]:
    """The `%(name)s` placeholders of the strings (a plural's singular may leave out num)."""
    return {name for string in strings for name in PLACEHOLDER.findall(string)}


def gaps(code: str, template: Catalog, catalogue: Catalog | None = None) -> list[str]:
    """Each message of `template` the language's .po (or `catalogue`) lacks, leaves
    untranslated or fuzzy, or keeps though nothing uses it any more, and each translation
    whose placeholders differ from its message's; empty when the catalogue is complete."""
    catalogue = read(code) if catalogue is None else catalogue
    found = []
    for message in template:
        if not message.id:
            continue
        mine = catalogue.get(message.id, message.context)
        if mine is None:
            found.append(f"{code}: missing {message.id!r}")
        elif not _written(mine):
            found.append(f"{code}: untranslated {message.id!r}")
        elif isinstance(message.id, tuple) != isinstance(mine.id, tuple):
            found.append(f"{code}: {message.id!r} needs its plural forms")
        else:
            found += [f"{code}: {message.id!r} has {sorted(set(_places(string)))} where it "
                      f"needs {sorted(needed)}" for string in _strings(mine)
                      for needed in [_places(*_strings_of(message.id))]
                      if not needed - {"num"} <= set(_places(string)) <= needed]
    used = {(m.id if isinstance(m.id, str) else m.id[0]) for m in template if m.id}
    found += [f"{code}: unused {m.id!r}" for m in catalogue
              if m.id and (m.id if isinstance(m.id, str) else m.id[0]) not in used]
    return found


def update(template: Catalog) -> None:
    """Merge the extracted messages into every .po (English: translated as themselves)."""
    for code in LANGUAGES:
        path = po_path(code)
        if path.exists():
            catalogue = read(code)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            catalogue = Catalog(locale=code, domain=DOMAIN, project="Seatkeeper server",
                                copyright_holder="the Seatkeeper authors", fuzzy=False)
        catalogue.update(copy.deepcopy(template), no_fuzzy_matching=True)
        catalogue.obsolete.clear()
        catalogue.fuzzy = False
        if code == DEFAULT:
            for message in catalogue:
                if message.id:
                    message.string = message.id
        with path.open("wb") as file:
            write_po(file, catalogue, width=96, omit_header=False, sort_output=False)


def compiled(code: str) -> bytes:
    buffer = io.BytesIO()
    write_mo(buffer, read(code))
    return buffer.getvalue()


def compile_all() -> None:
    for code in LANGUAGES:
        mo_path(code).write_bytes(compiled(code))


def messages_of_mo(data: bytes) -> dict[tuple[str, ...], tuple[str, ...]]:
    """msgid -> translation of a compiled catalogue (plurals as tuples)."""
    return {_strings_of(m.id): _strings(m) for m in read_mo(io.BytesIO(data)) if m.id}


def main(argv: Iterable[str] | None = None) -> int:
    command = next(iter(argv if argv is not None else sys.argv[1:]), "check")
    if command == "update":
        update(extract())
        return 0
    if command == "compile":
        compile_all()
        return 0
    if command == "check":
        template = extract()
        problems = [gap for code in LANGUAGES for gap in gaps(code, template)]
        problems += [f"{code}: {mo_path(code).name} is out of date: run compile"
                     for code in LANGUAGES
                     if not mo_path(code).exists()
                     or messages_of_mo(mo_path(code).read_bytes())
                     != messages_of_mo(compiled(code))]
        print("\n".join(problems) or "every catalogue is complete")
        return 1 if problems else 0
    print(f"unknown command {command!r}: update, compile or check", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
