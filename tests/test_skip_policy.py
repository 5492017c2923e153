"""Under CI nothing skips silently: a skip not on tests/skip-allowlist.txt fails the run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ALLOWLIST, read_allowlist, unallowed_skips, under_ci
from tests.support.procs import REPO_ROOT


def run_pytest(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items()
            if k not in ("CI", "SEATKEEPER_TEST_REQUIRE_TESTS", "SEATKEEPER_TEST_POSTGRES_URL")}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           *args], cwd=REPO_ROOT, env={**base, **env}, capture_output=True,
                          text=True, timeout=120, check=False)


def test_a_skipped_test_fails_the_run_under_ci_only() -> None:
    """The PostgreSQL case skipped (no database given): fine locally, a failure under CI,
    naming each skipped test and why it skipped."""
    selection = ("tests/test_harness.py::test_server_answers_health[postgresql]",)
    local = run_pytest(*selection)
    assert local.returncode == 0, local.stdout + local.stderr
    ci = run_pytest(*selection, CI="true")
    assert ci.returncode == 1, ci.stdout + ci.stderr
    assert "skipped under CI and not on tests/skip-allowlist.txt" in ci.stdout
    assert "test_server_answers_health[postgresql]: " in ci.stdout
    assert "SEATKEEPER_TEST_POSTGRES_URL is not set" in ci.stdout


def test_ci_is_the_ci_variable_or_the_promise_to_run_everything(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """CI=<anything> or SEATKEEPER_TEST_REQUIRE_TESTS=1 (what .ci/run sets) turns the rule on."""
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("SEATKEEPER_TEST_REQUIRE_TESTS", raising=False)
    assert not under_ci()
    monkeypatch.setenv("SEATKEEPER_TEST_REQUIRE_TESTS", "1")
    assert under_ci()
    monkeypatch.delenv("SEATKEEPER_TEST_REQUIRE_TESTS")
    monkeypatch.setenv("CI", "true")
    assert under_ci()


def test_the_allowlist_matches_by_pattern_and_needs_reasons(tmp_path: Path) -> None:
    """Patterns match node ids; a line without its reason is refused."""
    skipped = {"tests/a.py::test_x[postgresql]": "no db", "tests/b.py::test_y": "no tool"}
    assert unallowed_skips(skipped, ["tests/a.py::*"]) == ["tests/b.py::test_y: no tool"]
    listed = tmp_path / "allow.txt"
    listed.write_text("# comment\n\ntests/a.py::*  # the reason\n")
    assert read_allowlist(listed) == ["tests/a.py::*"]
    listed.write_text("tests/a.py::*\n")
    with pytest.raises(pytest.UsageError, match="needs its reason"):
        read_allowlist(listed)


def test_the_allowlist_stays_short_and_reasoned() -> None:
    """Every allowed skip gives its reason; the list stays short."""
    assert len(read_allowlist(ALLOWLIST)) <= 5
