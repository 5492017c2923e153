"""The command line in a German or French user's language, from an installed wheel and with a
running agent; `status --json` the same in every language.

A wheel of the work tree is installed into a folder of its own (as pip would into
site-packages) and its `seatkeeper` run with the locale a user's session has: the
catalogues must have travelled in the wheel and be found beside the installed package.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.scenarios.common import ScenarioServer
from tests.scenarios.conftest import AgentFactory
from tests.support.api import Api
from tests.support.procs import REPO_ROOT

GERMAN = {"LANG": "de_DE.UTF-8", "LANGUAGE": None, "LC_ALL": None, "LC_MESSAGES": None}
FRENCH = {"LANG": "fr_FR.UTF-8", "LANGUAGE": None, "LC_ALL": None, "LC_MESSAGES": None}
UV = Path(sys.executable).with_name("uv")


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder a wheel of the work tree was installed into (its dependencies: this venv's)."""
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([str(UV), "build", "--quiet", "--wheel", "-o", str(out / "dist"),
                    str(REPO_ROOT)], check=True, timeout=300, capture_output=True)
    (wheel,) = (out / "dist").glob("seatkeeper-*.whl")
    subprocess.run([str(UV), "pip", "install", "--quiet", "--no-deps", "--target",
                    str(out / "site"), "--python", sys.executable, str(wheel)],
                   check=True, timeout=300, capture_output=True)
    return out / "site"


def fields(text: str) -> dict[str, str]:
    """`Label:   value` lines (the column is as wide as the language's longest label)."""
    found = {}
    for line in text.splitlines()[1:]:
        label, colon, value = line.partition(":")
        if colon and label and not label.startswith(" "):
            found[label] = value.strip()
    return found


def run_installed(site: Path, home: Path, locale: dict[str, str | None],
                  *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEATKEEPER_")}
    env.update({"PYTHONPATH": str(site), "SEATKEEPER_HOME": str(home),
                "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"})
    for key, value in locale.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return subprocess.run([sys.executable, "-m", "seatkeeper", *args], cwd=home, env=env,
                          capture_output=True, text=True, timeout=60, check=False)


def test_an_installed_wheel_finds_its_catalogues(installed: Path, tmp_path: Path) -> None:
    """The wheel's seatkeeper (not the work tree's) prints status in German and French."""
    where = run_installed(installed, tmp_path, GERMAN, "--version")
    assert where.returncode == 0, where.stderr
    probe = subprocess.run(
        [sys.executable, "-c", "import seatkeeper.i18n as i; print(i.LOCALE_DIR)"],
        env={**os.environ, "PYTHONPATH": str(installed)}, cwd=tmp_path,
        capture_output=True, text=True, timeout=60, check=True)
    assert Path(probe.stdout.strip()).is_relative_to(installed)
    german = run_installed(installed, tmp_path, GERMAN, "status")
    assert german.returncode == 0, german.stderr
    assert german.stdout.splitlines()[0] == "Nicht angemeldet"
    assert fields(german.stdout) == {
        "Server": "nicht gesetzt: `seatkeeper login --server URL` oder im Tray «Mit einem "
                  "Lizenzserver verbinden…»",
        "Agent": "läuft nicht (starten mit `seatkeeper run`)"}
    french = run_installed(installed, tmp_path, FRENCH, "status")
    assert french.stdout.splitlines()[0] == "Non connecté"
    assert fields(french.stdout)["Agent"] == "arrêté (lancez-le avec `seatkeeper run`)"


def test_a_bad_language_setting_is_a_clear_error(installed: Path, tmp_path: Path) -> None:
    """language = "es": one line naming the file, the key and the languages there are, in
    the session's language (the setting that would say otherwise is the wrong one)."""
    (tmp_path / "config.toml").write_text('language = "es"\ncolour = "blue"\n')
    done = run_installed(installed, tmp_path, GERMAN, "status")
    assert done.returncode == 1
    assert done.stderr.strip() == (
        f"seatkeeper: {tmp_path / 'config.toml'}: «language» muss eines von en, de, fr sein "
        "(nicht 'es'); lassen Sie es weg, um der Sprache des Systems zu folgen.")
    (tmp_path / "config.toml").write_text('language = "fr"\ncolour = "blue"\n')
    warned = run_installed(installed, tmp_path, GERMAN, "status")
    assert warned.returncode == 0
    assert warned.stderr.startswith(
        f"avertissement\u00a0: {tmp_path / 'config.toml'}\u00a0: clé inconnue "
        "«\u00a0colour\u00a0» ignorée"), warned.stderr


def test_help_and_a_mistyped_command_follow_the_language_setting(
        installed: Path, tmp_path: Path) -> None:
    """language = "de" in an English session: --help and argparse's refusal are German too
    (the setting is read before the command line); a broken file still lets --help work."""
    english = {"LANG": "en_US.UTF-8", "LANGUAGE": None, "LC_ALL": None, "LC_MESSAGES": None}
    (tmp_path / "config.toml").write_text('language = "de"\n')
    helped = run_installed(installed, tmp_path, english, "--help")
    assert helped.returncode == 0, helped.stderr
    assert helped.stdout.startswith("Aufruf: "), helped.stdout
    wrong = run_installed(installed, tmp_path, english, "statsu")
    assert wrong.returncode == 2
    assert "ungültige Wahl: 'statsu'" in wrong.stderr, wrong.stderr
    (tmp_path / "config.toml").write_text('language = "es"\n')
    broken = run_installed(installed, tmp_path, english, "--help")
    assert broken.returncode == 0 and broken.stdout.startswith("usage: "), broken.stdout


def test_status_speaks_german_and_french_and_its_json_does_not(
        scenario_server: ScenarioServer, scenario_api: Api, make_agent: AgentFactory) -> None:
    """With a running agent: German from LANG, French from the language setting (in a
    German session), with `config show` saying where it came from; `status --json` keeps
    its English keys and values."""
    account, _ = scenario_api.new_account(seats=2)
    agent = make_agent("vermessung-zh", server_url=scenario_server.url, env=GERMAN)
    agent.login(account["email"], account["password"])
    agent.start()
    agent.wait_for("active")
    german = agent.cli("status")
    assert german.returncode == 0, german.stderr
    assert german.stdout.splitlines()[0] == "Platz 1 von 2"
    said = fields(german.stdout)
    assert said["Konto"] == f"{account['email']} bei {scenario_server.url}"
    assert said["Lizenz"].endswith("(Platz 1 von 2)")
    assert said["Platz"].startswith("belegt bis ") and "sofern nicht verlängert" in said["Platz"]
    german_json = json.loads(agent.cli("status", "--json").stdout)

    agent.extra_env.update({"LANG": "C.UTF-8"})
    english_json = json.loads(agent.cli("status", "--json").stdout)
    assert german_json == english_json
    assert german_json["state"] == "active"

    agent.write_config(language="fr")  # read by each command, as the daemon's next start does
    agent.extra_env.update(GERMAN)
    french = agent.cli("status")
    assert french.stdout.splitlines()[0] == "Place 1 sur 2"
    shown = agent.cli("config", "show").stdout
    assert any(line.split()[:2] == ["language", "fr"] and "votre fichier" in line
               for line in shown.splitlines()), shown
    refused = agent.cli("borrow", "--days", "0")
    assert refused.returncode == 2
    # argparse's refusal in the setting's language too (the configuration is read first)
    assert "doit être de 1 à 366 jours" in refused.stderr, refused.stderr
    assert "muss 1 bis 366 Tage sein" not in refused.stderr
    assert refused.stderr.startswith("utilisation"), refused.stderr
    assert "erreur" in refused.stderr and "argument --days" in refused.stderr
    assert agent.stop() == 0
