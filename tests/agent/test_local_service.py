"""The daemon's local plumbing: control socket, instance lock, credentials, logs, jobs."""

from __future__ import annotations

import logging
import os
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from seatkeeper.core import errors
from seatkeeper.service import logs
from seatkeeper.service.control import (
    AgentNotRunning,
    ControlClient,
    ControlError,
    ControlServer,
    local_api_address,
    socket_path,
)
from seatkeeper.service.credentials import CredentialStore
from seatkeeper.service.framing import stateless
from seatkeeper.service.instance import AlreadyRunning, InstanceLock
from seatkeeper.service.jobs import Jobs


def _handle(op: str, args: dict[str, object]) -> object:
    if op == "echo":
        return args
    raise errors.SeatLimitReached("All 3 seats are in use.")


def _watch() -> Iterator[dict[str, object]]:
    for seat in range(3):
        yield {"event": "changed", "seat": seat}


@pytest.fixture
def control(tmp_path: Path) -> Iterator[ControlServer]:
    server = ControlServer(str(socket_path(tmp_path / "run")), stateless(_handle, _watch))
    server.start()
    yield server
    server.stop()


def test_control_socket_answers_its_owner(control: ControlServer, tmp_path: Path) -> None:
    """A request over the socket gets the handler's answer."""
    assert ControlClient(str(socket_path(tmp_path / "run"))).call("echo", a=1) == {"a": 1}


def test_control_socket_is_owner_only(control: ControlServer, tmp_path: Path) -> None:
    """Nobody but the owner can reach the socket: 0700 folder, 0600 socket."""
    assert stat.S_IMODE((tmp_path / "run").stat().st_mode) == 0o700
    assert stat.S_IMODE(control.path.stat().st_mode) == 0o600


def test_control_errors_keep_their_code(control: ControlServer, tmp_path: Path) -> None:
    """A refusal reaches the CLI with its code and its message for people."""
    with pytest.raises(ControlError) as caught:
        ControlClient(str(socket_path(tmp_path / "run"))).call("fail")
    assert caught.value.code == "SEAT_LIMIT_REACHED"
    assert caught.value.message.startswith("All 3 seats are in use.")


def test_watch_streams_every_change(control: ControlServer, tmp_path: Path) -> None:
    """`watch` sends one answer per change, in order."""
    assert list(ControlClient(str(socket_path(tmp_path / "run"))).watch()) == [0, 1, 2]


def test_local_api_address_follows_the_data_folder(tmp_path: Path) -> None:
    """A socket in the runtime folder; on Windows a pipe named after the data folder."""
    from seatkeeper.config import Paths

    def paths(home: str) -> Paths:
        return Paths.resolve({"SEATKEEPER_HOME": home})

    assert local_api_address(paths(str(tmp_path)), "linux") == str(tmp_path / "run/agent.sock")
    office = local_api_address(paths("C:\\Users\\Ann\\Seat"), "win32")
    assert office.startswith("\\\\.\\pipe\\seatkeeper-")
    # Windows does not tell C:\Users\Ann from c:\users\ann; two folders are two agents.
    assert local_api_address(paths("c:\\users\\ann\\seat"), "win32") == office
    assert local_api_address(paths("C:\\Users\\Ann\\Other"), "win32") != office


def test_no_daemon_is_told_apart(tmp_path: Path) -> None:
    """With no daemon, the client says so (the CLI then acts on its own)."""
    with pytest.raises(AgentNotRunning):
        ControlClient(str(socket_path(tmp_path / "run"))).call("status")


def test_second_instance_is_refused(tmp_path: Path) -> None:
    """A second daemon for the same runtime folder is refused, naming the first one's pid."""
    first = InstanceLock(tmp_path)
    first.acquire()
    code = ("from pathlib import Path; from seatkeeper.service.instance import InstanceLock;"
            f"InstanceLock(Path({str(tmp_path)!r})).acquire()")
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=False)
    assert other.returncode != 0
    assert f"already running (pid {os.getpid()})" in other.stderr
    first.release()
    again = InstanceLock(tmp_path)
    again.acquire()
    again.release()


def test_lock_dies_with_its_process(tmp_path: Path) -> None:
    """A SIGKILLed daemon leaves no lock behind: the next start succeeds."""
    code = ("import time; from pathlib import Path; from seatkeeper.service.instance import "
            f"InstanceLock; lock = InstanceLock(Path({str(tmp_path)!r})); lock.acquire(); "
            "print('held', flush=True); time.sleep(60)")
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None and child.stdout.readline().strip() == "held"
    with pytest.raises(AlreadyRunning):
        InstanceLock(tmp_path).acquire()
    child.kill()
    child.wait()
    lock = InstanceLock(tmp_path)
    lock.acquire()
    lock.release()


def test_token_file_without_keyring_is_owner_only(tmp_path: Path,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    """With no keyring, the token lands in a 0600 file, with a warning in the log."""
    store = CredentialStore(tmp_path / "data", use_keyring=False)
    with caplog.at_level(logging.WARNING):
        store.save("skd_secret-token-value")
    assert store.load() == "skd_secret-token-value"
    assert stat.S_IMODE(store.file.stat().st_mode) == 0o600
    assert "no OS keyring" in caplog.text
    assert "skd_secret" not in caplog.text
    store.clear()
    assert store.load() is None


def test_logs_never_show_secrets(tmp_path: Path) -> None:
    """Tokens and passwords are scrubbed from every log line, in any form."""
    path = logs.setup(tmp_path / "logs", "DEBUG")
    log = logging.getLogger("seatkeeper.test")
    log.info("token %s", "skd_AbCdEfGhIjKlMnOp123")
    log.info("header Authorization: Bearer abc.def-ghi")
    log.info('body {"password": "hunter22", "email": "a@b.c"}')
    try:
        raise ValueError("release_token=skr_zzzzzzzzzzzzzz")
    except ValueError:
        log.exception("failed")
    for handler in logging.getLogger().handlers:
        handler.flush()
    text = path.read_text()
    for secret in ("skd_AbCdEf", "abc.def-ghi", "hunter22", "skr_zzzz"):
        assert secret not in text
    assert "a@b.c" in text and text.count("***") >= 4
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    logging.getLogger().handlers.clear()


def test_logs_never_show_device_codes_or_portal_cookies(tmp_path: Path) -> None:
    """A browser login's device code and the portal's cookies are scrubbed too."""
    path = logs.setup(tmp_path / "logs", "DEBUG")
    log = logging.getLogger("seatkeeper.test")
    log.info("polling with %s", "skc_DeviceCode0123456789abcdef")
    log.info('body {"device_code": "opaque-code-1234", "user_code": "WDJB-MJHT"}')
    log.info("request Cookie: seatkeeper_portal=skp_PortalCookie0123; seatkeeper_signin=csrf99")
    log.info("answer Set-Cookie: seatkeeper_portal=anything-else; Path=/portal; HttpOnly")
    for handler in logging.getLogger().handlers:
        handler.flush()
    text = path.read_text()
    for secret in ("skc_Device", "opaque-code-1234", "skp_Portal", "csrf99", "anything-else"):
        assert secret not in text, f"{secret} is in the log:\n{text}"
    assert "WDJB-MJHT" in text  # the code the person types is shown to them anyway
    logging.getLogger().handlers.clear()


def test_a_kick_during_a_run_is_not_pushed_back() -> None:
    """A job that reschedules itself later never delays a kick that came while it ran."""
    runs: list[float] = []
    started, release = threading.Event(), threading.Event()
    jobs: Jobs

    def job() -> None:
        runs.append(time.monotonic())
        if len(runs) == 1:
            started.set()
            release.wait(5)
            jobs.schedule("seat", 300, keep_sooner=True)

    jobs = Jobs({"seat": job})
    jobs.start()
    try:
        jobs.schedule("seat", 0)
        assert started.wait(5)
        jobs.schedule("seat", 0)  # a kick while the first run is still busy
        release.set()
        deadline = time.monotonic() + 5
        while len(runs) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(runs) == 2
    finally:
        jobs.stop()
