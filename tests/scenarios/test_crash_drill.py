"""Crash drill: SIGKILL at random moments during Log Out; no logout lost, none applied twice.

Each round, one device (its own SEATKEEPER_HOME, logged in beforehand) holds a seat
through a running daemon. It asks to log out, either through the daemon's control
socket or, with the daemon stopped, through `seatkeeper logout` (the CLI acting on
the outbox itself); the process doing the work gets SIGKILL 0-300 ms later. Then the
agent is started again, or the CLI run again, until the outbox is empty. A request
the killed process never made durable is asked again (the user clicks again); one it
acknowledged must need no second asking.

After every round: the outbox file passes `PRAGMA integrity_check` (right after the
kill and at the end), the server shows the device's seat free and its token revoked
(401), its `audit_events` has exactly one `logout` for the device (and one release
of its seat, for that logout), and the agent itself says `signed_out` with nothing
pending.

Processes are forked from this one (the agent is imported once), so a round costs
milliseconds of start-up, not an interpreter's. They are real processes: the kill
is a real SIGKILL. The devices log in beforehand, against an account whose password
hash has cheap argon2 costs (see `cheap_password_hash`). About 45 s for 100 rounds.
Rounds: SEATKEEPER_DRILL_ROUNDS (100); seed: SEATKEEPER_DRILL_SEED (printed).
"""

from __future__ import annotations

import os
import random
import statistics
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.scenarios.crash_drill_rounds import Drill
from tests.scenarios.crash_drill_support import (
    NO_KEYRING,
    ServerView,
    cheap_password_hash,
    login_device,
)
from tests.support.api import Api
from tests.support.procs import ServerProcess

ROUNDS = int(os.environ.get("SEATKEEPER_DRILL_ROUNDS", "100"))

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def drill_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, Path]]:
    base = tmp_path_factory.mktemp("drill-server")
    db_path = base / "server.db"
    with ServerProcess(f"sqlite:///{db_path}", home=base / "home",
                       signing_key_path=base / "signing-key.pem") as server:
        yield server, db_path


@pytest.fixture
def no_keyring(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", NO_KEYRING)


def test_sigkill_during_logout(drill_server: tuple[ServerProcess, Path],
                               tmp_path: Path, no_keyring: None) -> None:
    server, db_path = drill_server
    seed = int(os.environ.get("SEATKEEPER_DRILL_SEED", random.SystemRandom().randrange(2**32)))
    print(f"crash drill: seed {seed} (SEATKEEPER_DRILL_SEED={seed} repeats it), "
          f"{ROUNDS} rounds")
    rng = random.Random(seed)
    started = time.monotonic()
    api = Api(server.url, server.admin_token)
    account, license = api.new_account(seats=ROUNDS + 10)
    cheap_password_hash(db_path, account["id"], account["password"])
    with ThreadPoolExecutor(4) as pool:
        devices = list(pool.map(
            lambda i: login_device(server.url, account["email"], account["password"],
                             tmp_path / f"device-{i:03d}"), range(ROUNDS)))
    login_s = time.monotonic() - started
    drill = Drill(ServerView(api, db_path, license["id"]), rng)
    try:
        for number, device in enumerate(devices, 1):
            line = drill.round(number, device)
            print(f"round {number:3d}: {line}")
        drill.reap_stopped(block=True)
    finally:
        drill.cleanup()
        api.close()
    total = time.monotonic() - started
    tally = drill.tally
    print(f"crash drill: {ROUNDS} rounds in {total:.1f} s (logins {login_s:.1f} s, median "
          f"round {statistics.median(tally.round_s) * 1000:.0f} ms); seed {seed}")
    print("  where the kills landed:", dict(sorted(tally.stages.items())))
    print("  mode -> recovery:", dict(sorted(tally.modes.items())))
    print("  median phase times (ms):", {name: round(statistics.median(times) * 1000)
                                        for name, times in sorted(tally.phases.items())})
    if tally.acks:
        print(f"  daemon acknowledged in {statistics.median(tally.acks) * 1000:.1f} ms (median)")
    # The drill proves something only if kills hit every phase, not only the aftermath.
    interrupted = sum(n for key, n in tally.stages.items() if not key.endswith("/done"))
    assert interrupted >= ROUNDS // 4, f"too few kills landed mid-logout: {tally.stages}"
