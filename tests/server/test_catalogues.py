"""The catalogues: every message the portal and the console show is written in English,
German and French, and the compiled .mo files that ship are those of the .po files."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from seatkeeper_server.i18n import LANGUAGES, catalog

SERVER = Path(catalog.__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def template() -> Catalog:
    """The messages as the code and the templates mark them now (extracted at test time)."""
    return catalog.extract()


@pytest.mark.parametrize("code", list(LANGUAGES))
def test_every_message_is_written_in_every_language(template: Catalog, code: str) -> None:
    """A message the code or a template uses but a catalogue lacks, leaves empty or fuzzy,
    or whose placeholders a translation changed, fails here, named."""
    problems = catalog.gaps(code, template)
    assert not problems, (f"{len(problems)} gaps; run `python -m seatkeeper_server.i18n.catalog "
                          "update`, write them, then `compile`:\n" + "\n".join(problems))


def test_extraction_finds_the_templates_and_the_code(template: Catalog) -> None:
    """Messages from a portal template, a console template, a route, a service's refusal
    and a plural are all among those extracted (so a gap in any of them would be seen)."""
    ids = {m.id if isinstance(m.id, str) else m.id[0] for m in template if m.id}
    for expected in ("Your licenses and devices",            # portal/templates/account.html
                     "Sign in to the console",               # console/words.py (N_)
                     "Force release",                        # console/templates/license.html
                     "The email or the password is wrong.",  # portal/routes.py (_)
                     "No account %(id)s.",                   # services (Text)
                     "Too many failed logins. Try again in %(num)d second."):  # Plural
        assert expected in ids, expected
    locations = {path for m in template for path, _line in m.locations}
    assert not any(path.startswith("migrations") for path in locations)


def test_a_new_message_without_translations_is_named(tmp_path: Path,
                                                     template: Catalog) -> None:
    """A string added to a template (and one whose German lost a placeholder) is reported
    by name for German and French alike, as the test above would report it."""
    source = tmp_path / "server"
    shutil.copytree(SERVER, source, ignore=shutil.ignore_patterns("__pycache__", "*.mo"))
    page = source / "portal" / "templates" / "sign_in.html"
    page.write_text(page.read_text().replace(
        "{% endblock %}", '<p>{{ _("Forgot your password? Ask your administrator.") }}</p>\n'
                          "{% endblock %}"))
    grown = catalog.extract(source)
    german = copy.deepcopy(catalog.read("de"))
    german["Expires %(when)s"].string = "Läuft ab"
    for code, catalogue in (("de", german), ("fr", None)):
        problems = catalog.gaps(code, grown, catalogue)
        assert f"{code}: missing 'Forgot your password? Ask your administrator.'" in problems
    assert any("'Expires %(when)s' has [] where it needs ['when']" in p
               for p in catalog.gaps("de", template, german))


def test_a_message_no_longer_used_is_named(template: Catalog) -> None:
    """A translation kept for a message nothing shows any more is reported too."""
    french = copy.deepcopy(catalog.read("fr"))
    french.add("Seats left over", "Postes restants")
    assert "fr: unused 'Seats left over'" in catalog.gaps("fr", template, french)


@pytest.mark.parametrize("code", list(LANGUAGES))
def test_the_shipped_mo_is_compiled_from_its_po(code: str) -> None:
    """The committed .mo (what the wheel ships) holds exactly the .po's translations."""
    shipped = catalog.messages_of_mo(catalog.mo_path(code).read_bytes())
    assert shipped == catalog.messages_of_mo(catalog.compiled(code)), (
        f"{catalog.mo_path(code)} is out of date: run "
        "`python -m seatkeeper_server.i18n.catalog compile`")


def test_the_check_command_passes_on_the_checkout(capsys: pytest.CaptureFixture[str]) -> None:
    """`python -m seatkeeper_server.i18n.catalog check` agrees: nothing to write."""
    assert catalog.main(["check"]) == 0
    assert "every catalogue is complete" in capsys.readouterr().out
