"""The wheel ships the compiled catalogues, and the server installed from it speaks German
and French (not English everywhere, which is what a missing .mo would look like)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.support.procs import REPO_ROOT

UV = Path(sys.executable).with_name("uv")

# Run in the installed copy: the sign-in pages rendered in German and French.
PROBE = """
import seatkeeper_server, sys
from seatkeeper_server import i18n
from seatkeeper_server.console import common
from seatkeeper_server.portal import views
assert seatkeeper_server.__file__.startswith(sys.argv[1]), seatkeeper_server.__file__
print(i18n.LOCALE_DIR)
for header in ("de-CH", "fr-FR"):
    i18n.use(i18n.negotiate(header))
    print(views.page("sign_in.html", title="-", csrf="x", email="", next="").body.decode())
    print(common.page("sign_in.html", title="-", csrf="x", email="", next="").body.decode())
"""


def _clean_copy(folder: Path) -> Path:
    """The checkout's files (tracked, or new and not ignored) without any build/ left over,
    which setuptools would otherwise reuse."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                             "--exclude-standard"], cwd=REPO_ROOT, check=True,
                            capture_output=True, timeout=60).stdout.decode().split("\0")
    for name in filter(None, listed):
        if (REPO_ROOT / name).is_file():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO_ROOT / name, folder / name)
    return folder


@pytest.mark.slow
def test_an_installed_wheel_finds_its_catalogues(tmp_path: Path) -> None:
    """Built with `uv build` and installed as a user would (no source tree around)."""
    source = _clean_copy(tmp_path / "source")
    subprocess.run([str(UV), "build", "--quiet", "--wheel", "-o", str(tmp_path / "dist"),
                    str(source)], check=True, timeout=300, capture_output=True)
    (wheel,) = (tmp_path / "dist").glob("seatkeeper-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for code in ("en", "de", "fr"):
        assert f"seatkeeper_server/locale/{code}/LC_MESSAGES/seatkeeper_server.mo" in names
    assert not [name for name in names if name.endswith(".po")]
    target = tmp_path / "site"
    subprocess.run([str(UV), "pip", "install", "--quiet", "--no-deps", "--target",
                    str(target), "--python", sys.executable, str(wheel)],
                   check=True, timeout=300, capture_output=True)
    done = subprocess.run([sys.executable, "-c", PROBE, str(target)], cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(target)}, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0].startswith(str(target))
    assert '<html lang="de">' in done.stdout and "<h1>Anmelden</h1>" in done.stdout
    assert "<h1>Anmelden an der Konsole</h1>" in done.stdout
    assert "<h1>Se connecter</h1>" in done.stdout and "Connexion à la console" in done.stdout
