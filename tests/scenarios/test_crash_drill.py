"""Crash drill: SIGKILL at random moments during Log Out and Release; none lost, none
applied twice, and each request delivered at most once more than the crash forced.

Each round, one device (its own SEATKEEPER_HOME, logged in beforehand) holds a seat
through a running daemon, on a server (SQLite, and PostgreSQL when given) behind the
fault proxy. It asks to log out or to release the seat, either through the daemon's
control socket or, with the daemon stopped, through `seatkeeper logout|release` (the
CLI acting on the outbox itself); the process doing the work gets SIGKILL 0-300 ms
later. Then the agent is started again, or the CLI run again, until the outbox is
empty. A request the killed process never made durable is asked again (the user clicks
again); one it acknowledged must need no second asking.

After every round: the outbox file passes `PRAGMA integrity_check` (right after the
kill and at the end). Applied once: for a logout the server shows the device's seat
free and its token revoked (401), exactly one `logout` audit event for the device and
one release of its seat, for that logout, and the agent says `signed_out` with nothing
pending; for a release, the lease is gone with exactly one `release` event (reason
`user`), the device still logged in. Delivered once: the proxy counts each request
the queued item needs (the lease's DELETE, the token's POST /v1/auth/logout) as it
reaches the server; each arrived at least once, at most once after the crash, and not
at all after the crash once the outbox had recorded it done. The summary says how
many requests the crashes made the agent send again (a kill between sending and
recording costs one).

Processes are forked from this one (the agent is imported once), so a round costs
milliseconds of start-up, not an interpreter's. They are real processes: the kill
is a real SIGKILL. The devices log in beforehand, against an account whose password
hash has cheap argon2 costs (see `cheap_password_hash`). About 60 s for 100 rounds, per
database.
Rounds: SEATKEEPER_DRILL_ROUNDS (100 per database); seed: SEATKEEPER_DRILL_SEED (printed).
"""

from __future__ import annotations

import contextlib
import os
import random
import statistics
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
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
from tests.support.pg import fresh_postgres_database
from tests.support.procs import ServerProcess
from tests.support.proxy import FaultProxy

ROUNDS = int(os.environ.get("SEATKEEPER_DRILL_ROUNDS", "100"))

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


@dataclass
class DrillServer:
    server: ServerProcess
    db_url: str
    proxy: FaultProxy


@pytest.fixture(scope="module")
def drill_server(backend: str, tmp_path_factory: pytest.TempPathFactory
                 ) -> Iterator[DrillServer]:
    """The server on this backend's own empty database, behind a counting fault proxy."""
    base = tmp_path_factory.mktemp(f"drill-{backend}")
    database = (contextlib.nullcontext(f"sqlite:///{base / 'server.db'}")
                if backend == "sqlite" else fresh_postgres_database())
    with database as db_url, \
            ServerProcess(db_url, home=base / "home",
                          signing_key_path=base / "signing-key.pem") as server, \
            FaultProxy(server.port) as proxy:
        yield DrillServer(server, db_url, proxy)


@pytest.fixture
def no_keyring(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", NO_KEYRING)


def test_sigkill_during_logout_and_release(drill_server: DrillServer, backend: str,
                                           tmp_path: Path, no_keyring: None) -> None:
    """Killed at any moment, a logout or a release is applied once and sent at most once
    more than the crash forced."""
    server, proxy = drill_server.server, drill_server.proxy
    seed = int(os.environ.get("SEATKEEPER_DRILL_SEED", random.SystemRandom().randrange(2**32)))
    print(f"crash drill ({backend}): seed {seed} (SEATKEEPER_DRILL_SEED={seed} repeats it), "
          f"{ROUNDS} rounds")
    rng = random.Random(seed)
    started = time.monotonic()
    api = Api(server.url, server.admin_token)
    account, license = api.new_account(seats=ROUNDS + 10)
    cheap_password_hash(drill_server.db_url, account["id"], account["password"])
    with ThreadPoolExecutor(4) as pool:
        devices = list(pool.map(
            lambda i: login_device(proxy.url, account["email"], account["password"],
                                   tmp_path / f"device-{i:03d}"), range(ROUNDS)))
    login_s = time.monotonic() - started
    view = ServerView(api, license["id"], proxy)
    drill = Drill(view, rng)
    try:
        for number, device in enumerate(devices, 1):
            line = drill.round(number, device)
            print(f"round {number:3d}: {line}")
        drill.reap_stopped(block=True)
    finally:
        drill.cleanup()
        view.close()
        api.close()
    total = time.monotonic() - started
    tally = drill.tally
    print(f"crash drill ({backend}): {ROUNDS} rounds in {total:.1f} s (logins {login_s:.1f} "
          f"s, median round {statistics.median(tally.round_s) * 1000:.0f} ms); seed {seed}")
    print("  where the kills landed:", dict(sorted(tally.stages.items())))
    print("  mode -> recovery:", dict(sorted(tally.modes.items())))
    print(f"  requests the crashes made the agent send again: {sum(tally.retries.values())} "
          f"of {tally.deliveries} delivered, by stage {dict(sorted(tally.retries.items()))}")
    print("  median phase times (ms):", {name: round(statistics.median(times) * 1000)
                                        for name, times in sorted(tally.phases.items())})
    if tally.acks:
        print(f"  daemon acknowledged in {statistics.median(tally.acks) * 1000:.1f} ms (median)")
    # The drill proves something only if kills hit every phase, not only the aftermath.
    interrupted = sum(n for key, n in tally.stages.items() if not key.endswith("/done"))
    assert interrupted >= ROUNDS // 4, f"too few kills landed mid-request: {tally.stages}"
    assert {key.split(":")[0] for key in tally.stages} == {"logout", "release"}
