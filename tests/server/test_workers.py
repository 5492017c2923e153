"""`seatkeeper-server --workers N`: several processes serve one port; the supervisor sweeps,
serves the metrics of all of them and replaces a worker that dies; SQLite refuses."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.server.checks import wait_for
from tests.server.test_concurrency import race
from tests.support.api import Api, Device, expect
from tests.support.pg import SKIP_REASON, fresh_postgres_database, postgres_url
from tests.support.procs import ServerProcess, ServerStartError, free_port

CLIENTS, BEATS = 16, 10


def workers_of(pid: int) -> list[int]:
    """The worker processes under a supervisor (not multiprocessing's resource tracker)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        if int(stat[stat.rfind(")") + 2:].split()[1]) == pid and b"resource_tracker" not in cmdline:
            found.append(int(entry))
    return sorted(found)


def two(pids: list[int]) -> list[int] | None:
    return pids if len(pids) == 2 else None


def cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def heartbeat_count(metrics_url: str) -> float:
    text = requests.get(metrics_url, timeout=10).text
    return sum(sample.value for family in text_string_to_metric_families(text)
               for sample in family.samples
               if sample.name == "seatkeeper_http_requests_total"
               and sample.labels.get("route") == "/v1/seats/{lease_id}/heartbeat")


@pytest.fixture
def two_workers(tmp_path: Path) -> Iterator[tuple[ServerProcess, str]]:
    if postgres_url() is None:
        pytest.skip(SKIP_REASON)
    metrics = f"127.0.0.1:{free_port()}"
    with fresh_postgres_database() as url, ServerProcess(
            url, home=tmp_path / "home", signing_key_path=tmp_path / "key.pem",
            extra_args=["--workers", "2", "--metrics-listen", metrics]) as server:
        yield server, f"http://{metrics}/metrics"


@pytest.mark.postgres
def test_two_workers_both_serve_and_the_metrics_add_them_up(
        two_workers: tuple[ServerProcess, str]) -> None:
    """Two worker processes under the supervisor both do work for a crowd of connections;
    the supervisor's /metrics counts every heartbeat, whichever worker answered it; a worker
    killed is replaced and the server answers meanwhile."""
    server, metrics_url = two_workers
    assert server.pid is not None
    pids = wait_for(lambda: two(workers_of(server.pid or 0)))
    api = Api(server.url, server.admin_token)
    first = api.new_device(seats=CLIENTS)
    assert first.account is not None
    devices = [first] + [api.login(first.account["email"], first.account["password"])
                         for _ in range(CLIENTS - 1)]
    leases = [expect(d.acquire(), 201)["lease"]["lease_id"] for d in devices]
    before = {pid: cpu_ticks(pid) for pid in pids}
    fresh = [Device(server.url, token=d.token, id=d.id, name=d.name, fingerprint=d.fingerprint)
             for d in devices]  # new connections, which the kernel hands to either worker

    def beat(device: Device, lease: str) -> requests.Response:
        for _ in range(BEATS - 1):
            expect(device.heartbeat(lease), 200)
        return device.heartbeat(lease)

    counted = heartbeat_count(metrics_url)
    results = race([partial(beat, d, lease) for d, lease in zip(fresh, leases, strict=True)])
    assert {r.status_code for r in results} == {200}
    busy = {pid: cpu_ticks(pid) - before[pid] for pid in pids}
    assert all(ticks > 0 for ticks in busy.values()), f"a worker did nothing: {busy}"
    assert heartbeat_count(metrics_url) - counted == CLIENTS * BEATS

    os.kill(pids[0], signal.SIGKILL)
    expect(requests.get(f"{server.url}/v1/health", timeout=10), 200)
    replaced = wait_for(lambda: two([p for p in workers_of(server.pid or 0) if p != pids[0]]),
                        timeout=30)
    assert pids[1] in replaced
    expect(devices[0].heartbeat(leases[0]), 200)
    api.close()
    assert server.stop() == 0  # SIGTERM: the workers finish, then the supervisor exits 0
    assert not Path(f"/proc/{pids[1]}").exists()


def test_several_workers_on_sqlite_are_refused_clearly(tmp_path: Path) -> None:
    """SQLite has one writer: --workers 2 on it stops at once (exit 2), naming PostgreSQL."""
    server = ServerProcess(f"sqlite:///{tmp_path / 'server.db'}", home=tmp_path / "home",
                           signing_key_path=tmp_path / "key.pem", extra_args=["--workers", "2"])
    started = time.monotonic()
    with pytest.raises(ServerStartError, match="status 2") as caught:
        server.start()
    assert "--workers 2 needs PostgreSQL" in str(caught.value)
    assert time.monotonic() - started < 20
