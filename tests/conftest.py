"""Shared fixtures: the real server per database backend, a short-lease twin, API clients."""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.api import Api
from tests.support.pg import SKIP_REASON, fresh_postgres_database, postgres_url
from tests.support.procs import REPO_ROOT, ServerProcess

# Chromium for tests/portal and tests/console: one instance for the whole session.
pytest_plugins = ["tests.support.browser"]

# The agent speaks the OS locale's language: the tests read its English unless one asks for
# another (tests/agent/test_languages.py gives its processes an environment of their own).
os.environ["LANGUAGE"] = "en"

SHORT_LEASE_TTL_S = 2
SHORT_HEARTBEAT_INTERVAL_S = 1


@pytest.fixture(
    scope="session",
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
)
def backend(request: pytest.FixtureRequest) -> str:
    """The database the server runs on; every test using it runs once per backend."""
    name: str = request.param
    if name == "postgresql" and postgres_url() is None:
        pytest.skip(SKIP_REASON)
    return name


@pytest.fixture(scope="session")
def backend_dir(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A session directory for this backend: database file, signing key, server homes."""
    return tmp_path_factory.mktemp(backend)


@pytest.fixture(scope="session")
def db_url(backend: str, backend_dir: Path) -> Iterator[str]:
    """An empty database for this backend, as the server's --db URL."""
    if backend == "sqlite":
        yield f"sqlite:///{backend_dir / 'server.db'}"
    else:
        with fresh_postgres_database() as url:
            yield url


@pytest.fixture(scope="session")
def signing_key_path(backend_dir: Path) -> Path:
    """The server's Ed25519 key file, shared by `server` and `short_server`."""
    return backend_dir / "signing-key.pem"


@pytest.fixture(scope="session")
def server(db_url: str, backend_dir: Path, signing_key_path: Path) -> Iterator[ServerProcess]:
    """The server with production-like timing: lease TTL 900 s, heartbeat every 300 s."""
    with ServerProcess(
        db_url,
        home=backend_dir / "server-home",
        signing_key_path=signing_key_path,
        lease_ttl=900,
        heartbeat_interval=300,
    ) as proc:
        yield proc


@pytest.fixture(scope="session")
def short_server(
    server: ServerProcess, db_url: str, backend_dir: Path, signing_key_path: Path
) -> Iterator[ServerProcess]:
    """A second server on the same database and key, with 2 s leases, for expiry tests.

    It starts after `server`, so the schema and the key already exist.
    """
    with ServerProcess(
        db_url,
        home=backend_dir / "short-server-home",
        signing_key_path=signing_key_path,
        lease_ttl=SHORT_LEASE_TTL_S,
        heartbeat_interval=SHORT_HEARTBEAT_INTERVAL_S,
        admin_token=server.admin_token,
    ) as proc:
        yield proc


@pytest.fixture(scope="session")
def api(server: ServerProcess) -> Iterator[Api]:
    """A client for `server`."""
    client = Api(server.url, server.admin_token)
    yield client
    client.close()


@pytest.fixture(scope="session")
def short_api(short_server: ServerProcess) -> Iterator[Api]:
    """A client for `short_server`."""
    client = Api(short_server.url, short_server.admin_token)
    yield client
    client.close()


@pytest.fixture(scope="session")
def artefacts_dir() -> Path:
    """`<repo>/artefacts/`: screenshots and logs worth keeping after the run (gitignored)."""
    path = REPO_ROOT / "artefacts"
    path.mkdir(exist_ok=True)
    return path


# Under CI (environment CI set, or SEATKEEPER_TEST_REQUIRE_TESTS=1) nothing skips silently:
# a run in which no test passed fails (a suite that skipped everything has proved nothing),
# and so does any skipped test not on the reasoned allow-list tests/skip-allowlist.txt.

ALLOWLIST = Path(__file__).with_name("skip-allowlist.txt")
_passed = 0
_skipped: dict[str, str] = {}
_NOTHING_RAN = pytest.StashKey[bool]()
_UNALLOWED = pytest.StashKey[list[str]]()


def under_ci() -> bool:
    """CI, or a run that promised to run everything (.ci/run sets both)."""
    return bool(os.environ.get("CI")) or os.environ.get("SEATKEEPER_TEST_REQUIRE_TESTS") == "1"


def read_allowlist(path: Path = ALLOWLIST) -> list[str]:
    """The allow-list's node id patterns (fnmatch); each line must give its reason."""
    patterns = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        pattern, _, reason = line.partition("#")
        if not reason.strip():
            raise pytest.UsageError(f"{path}:{number}: an allowed skip needs its reason "
                                    "after a '#'")
        patterns.append(pattern.strip())
    return patterns


def unallowed_skips(skipped: dict[str, str], patterns: list[str]) -> list[str]:
    """The skipped node ids (with their reasons) that no pattern allows."""
    return [f"{nodeid}: {reason}" for nodeid, reason in sorted(skipped.items())
            if not any(fnmatch.fnmatchcase(nodeid, pattern) for pattern in patterns)]


def _skip_reason(report: pytest.TestReport | pytest.CollectReport) -> str:
    longrepr = report.longrepr
    return str(longrepr[2]) if isinstance(longrepr, tuple) else str(longrepr)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    global _passed
    if report.when == "call" and report.passed:
        _passed += 1
    if report.skipped and not hasattr(report, "wasxfail"):
        _skipped[report.nodeid] = _skip_reason(report)


def pytest_collectreport(report: pytest.CollectReport) -> None:
    if report.skipped:
        _skipped[report.nodeid] = _skip_reason(report)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not under_ci() or session.config.option.collectonly:
        return
    if exitstatus == pytest.ExitCode.OK and _passed == 0:
        session.exitstatus = pytest.ExitCode.NO_TESTS_COLLECTED
        session.config.stash[_NOTHING_RAN] = True
    unallowed = unallowed_skips(_skipped, read_allowlist())
    if unallowed:
        session.config.stash[_UNALLOWED] = unallowed
        if session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
            session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    config = terminalreporter.config
    if config.stash.get(_NOTHING_RAN, False):
        terminalreporter.write_line("FAILED: no test passed (under CI)", red=True, bold=True)
    unallowed = config.stash.get(_UNALLOWED, [])
    if unallowed:
        terminalreporter.write_line(
            f"FAILED: {len(unallowed)} test(s) skipped under CI and not on "
            f"{ALLOWLIST.relative_to(REPO_ROOT)}:", red=True, bold=True)
        for line in unallowed:
            terminalreporter.write_line(f"  {line}", red=True)
