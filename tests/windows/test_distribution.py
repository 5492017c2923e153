"""The distribution, installed as a Windows user gets it: a wheel with the agent, nothing else."""

from __future__ import annotations

import zipfile
from pathlib import Path

from seatkeeper import __version__

from tests.windows import wine


def test_wheel_adds_only_seatkeeper_import_names(wheel: Path) -> None:
    """The wheel puts `seatkeeper` and `seatkeeper_server` in site-packages, and nothing else."""
    names = {name.split("/")[0] for name in zipfile.ZipFile(wheel).namelist()}
    assert names == {"seatkeeper", "seatkeeper_server", f"seatkeeper-{__version__}.dist-info"}


def test_wheel_carries_every_source_module(wheel: Path) -> None:
    """Every module of agent/ and server/ is in the wheel, under its import name."""
    inside = set(zipfile.ZipFile(wheel).namelist())
    for folder, name in (("agent", "seatkeeper"), ("server", "seatkeeper_server")):
        for source in (wine.REPO_ROOT / folder).rglob("*"):
            if source.suffix in {".py", ".html", ".css", ".mako"}:
                relative = source.relative_to(wine.REPO_ROOT / folder).as_posix()
                assert f"{name}/{relative}" in inside, f"{folder}/{relative} is not in the wheel"


def test_windows_python_runs_the_agent() -> None:
    """`python -m seatkeeper --version` on the Windows CPython prints this checkout's version."""
    done = wine.run_python(["-m", "seatkeeper", "--version"])
    assert done.returncode == 0, done.stdout
    assert done.stdout.strip() == f"seatkeeper {__version__}"


def test_server_without_its_extra_says_how_to_install_it() -> None:
    """The agent's install has no server libraries: `seatkeeper-server` says which extra to add."""
    done = wine.run_python(["-m", "seatkeeper_server", "--version"])
    assert done.returncode == 0, done.stdout  # --version needs nothing else
    done = wine.run_python(["-m", "seatkeeper_server", "--port", "8750"])
    assert done.returncode == 2, done.stdout
    assert "pip install 'seatkeeper[server]'" in done.stdout
    assert "Traceback" not in done.stdout
