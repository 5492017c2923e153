"""A fleet simulator: 100,000 simulated devices, in compressed time, against N server replicas.

It starts `--replicas` real servers (tests/support/procs.py) on one fresh PostgreSQL
database, writes the fleet into it (bench/fleet_fixture.py: each device logged in, holding
a lease), and drives every device as the agent does (agent/core/backoff.py): a heartbeat
every interval, give or take 10 %; after a 429/503 the Retry-After; after a network
failure full-jitter backoff (1 s doubling to 60 s), cut short by the agent's health probe
(once a second), which finds a server that is back within a second. Phases:

1. steady: heartbeats on schedule for `--steady` seconds;
2. reclaim: `--silent` devices fall silent (their leases back-dated to expire over the
   next 10 s); the sweep must reclaim them: the lag from expiry to the recorded reclaim;
3. outage and recovery storm: every replica is stopped for `--outage` seconds while the
   fleet keeps trying, then started again; every device comes back at once, and the
   fleet is back when each one has had a heartbeat answered again.

Time is compressed: lease TTL and heartbeat interval are `--ttl` and `--interval` (450 and
150 s by default, half the production 900 and 300). Devices share `--connections`
keep-alive connections (one process cannot hold 100,000 sockets); latency is the server's
answer time from sending, and the wait for a free connection after the request was due is
reported beside it (the simulator's own queue, which a real fleet does not have). It reports
throughput, p50/p99, errors (timeouts apart) and reclaim lag per phase, per second in
JSON, and plots them (docs/images/fleet-sim.png, Pillow). It stops by itself: every phase
has a time limit, and the run ends with its servers. Loopback only.

    .venv/bin/python bench/fleet_sim.py                        # 100,000 devices, ~6 min
    .venv/bin/python bench/fleet_sim.py --devices 20000 --steady 20 --outage 10
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import json
import os
import random
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from fleet_fixture import SimDevice, fall_silent, populate, reclaim_lags  # noqa: E402
from fleet_plot import plot  # noqa: E402
from loadgen import build_request, percentile  # noqa: E402

from tests.support import pg  # noqa: E402
from tests.support.procs import ServerProcess  # noqa: E402

PROBE_S, BACKOFF_BASE_S, BACKOFF_CAP_S, JITTER = 1.0, 1.0, 60.0, 0.10
TIMEOUT_S = 15.0  # the agent's read timeout


class Fleet:
    """Every device's next due time in one heap, served by a pool of connections."""

    def __init__(self, devices: list[SimDevice], ports: list[int], interval: float,
                 connections: int, rng: random.Random) -> None:
        self.devices, self.ports, self.interval, self.rng = devices, ports, interval, rng
        self.connections = connections
        now = time.monotonic()
        # Spread over one interval, as a fleet that has been running a while is.
        self.heap = [(now + rng.uniform(0, interval), d.index) for d in devices]
        heapq.heapify(self.heap)
        self.failures = [0] * len(devices)
        self.down_since: dict[int, float] = {}  # device -> when its contact failed
        self.server_up = True
        self.up_again_at: float | None = None
        self.seen_back: set[int] = set()
        self.rows: list[dict[str, Any]] = []
        self.window: dict[str, Any] = self._new_window()
        self.ready: asyncio.Queue[tuple[float, int]] = asyncio.Queue()

    @staticmethod
    def _new_window() -> dict[str, Any]:
        return {"ok": 0, "shed": 0, "errors": 0, "timeouts": 0, "latencies": [], "waits": []}

    def reschedule(self, index: int, at: float) -> None:
        heapq.heappush(self.heap, (at, index))

    async def scheduler(self, until: float) -> None:
        while time.monotonic() < until:
            now = time.monotonic()
            while self.heap and self.heap[0][0] <= now:
                self.ready.put_nowait(heapq.heappop(self.heap))
            await asyncio.sleep(0.005)

    async def worker(self, number: int, until: float) -> None:
        port = self.ports[number % len(self.ports)]
        stream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        while time.monotonic() < until:
            try:
                due, index = await asyncio.wait_for(self.ready.get(), 0.2)
            except TimeoutError:
                continue
            device = self.devices[index]
            payload = build_request("127.0.0.1", port, {
                "method": "POST", "path": f"/v1/seats/{device.lease_id}/heartbeat",
                "headers": {"Authorization": f"Bearer {device.token}"}})
            status, headers_retry, failed, sent = 0, None, None, time.monotonic()
            for attempt in range(2):  # a kept-alive connection the server closed: reconnect
                reused, failed = stream is not None, None
                try:
                    if stream is None:
                        stream = await asyncio.wait_for(
                            asyncio.open_connection("127.0.0.1", port), 5.0)
                    stream[1].write(payload)
                    status, _body, close, headers_retry = await asyncio.wait_for(
                        _response(stream[0]), TIMEOUT_S)
                    if close:
                        stream[1].close()
                        stream = None
                except TimeoutError:
                    failed = "timeout"
                except (OSError, asyncio.IncompleteReadError, ValueError):
                    failed = "network"
                if failed and stream is not None:
                    stream[1].close()
                    stream = None
                if not (failed == "network" and reused and attempt == 0):
                    break
            self._answered(index, due, sent, status, headers_retry, failed)

    def _answered(self, index: int, due: float, sent: float, status: int,
                  retry_after: float | None, failed: str | None) -> None:
        now, w = time.monotonic(), self.window
        w["waits"].append(sent - due)
        if failed is None and status == 200:
            w["ok"] += 1
            w["latencies"].append(now - sent)
            self.failures[index] = 0
            if self.up_again_at is not None:
                self.seen_back.add(index)
            self.down_since.pop(index, None)
            self.reschedule(index, now + self.interval * self.rng.uniform(1 - JITTER,
                                                                          1 + JITTER))
            return
        if failed is None and status in (429, 503) and retry_after is not None:
            w["shed"] += 1
            self.reschedule(index, now + retry_after)
            return
        w["timeouts" if failed == "timeout" else "errors"] += 1
        # The agent's seat backoff (full jitter), cut short by its health probe, which
        # notices within a second that the server answers again.
        self.failures[index] += 1
        ceiling = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** (self.failures[index] - 1))
        retry = now + max(1.0, self.rng.uniform(0, ceiling))
        self.down_since.setdefault(index, now)
        if self.server_up:
            retry = min(retry, now + PROBE_S)
        self.reschedule(index, retry)

    def server_back(self) -> None:
        """The probe of every device still failing finds the server within a second."""
        now = time.monotonic()
        self.server_up, self.up_again_at = True, now
        waiting = set(self.down_since)
        self.heap = [(min(at, now + self.rng.uniform(0, PROBE_S)) if i in waiting else at, i)
                     for at, i in self.heap]
        heapq.heapify(self.heap)

    def tick(self, phase: str, started: float) -> dict[str, Any]:
        w, self.window = self.window, self._new_window()
        lat = sorted(w["latencies"])
        row = {"t": round(time.monotonic() - started, 1), "phase": phase, "ok": w["ok"],
               "shed": w["shed"], "errors": w["errors"], "timeouts": w["timeouts"],
               "p50_ms": percentile(lat, 50) * 1000 if lat else None,
               "p99_ms": percentile(lat, 99) * 1000 if lat else None,
               "wait_p99_ms": percentile(sorted(w["waits"]), 99) * 1000 if w["waits"] else None,
               "back": len(self.seen_back), "queued": self.ready.qsize(),
               "latencies": lat}
        self.rows.append(row)
        return row


async def _response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool, float | None]:
    """Status, body, whether the server closes, and Retry-After (seconds) if it sent one."""
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    status, length, close, retry = int(head[0].split(" ", 2)[1]), 0, False, None
    for line in head[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "connection" and "close" in value.lower():
            close = True
        elif name == "retry-after":
            retry = float(value)
    body = await reader.readexactly(length) if length else b""
    return status, body, close, retry


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=100_000)
    parser.add_argument("--per-account", type=int, default=5, help="devices per account")
    parser.add_argument("--replicas", type=int, default=2, help="server processes (1-4)")
    parser.add_argument("--server-arg", action="append", default=[], metavar="ARG")
    parser.add_argument("--ttl", type=int, default=450, help="lease TTL, s (compressed)")
    parser.add_argument("--interval", type=int, default=150, help="heartbeat interval, s")
    parser.add_argument("--connections", type=int, default=3000,
                        help="keep-alive connections the devices share")
    parser.add_argument("--steady", type=float, default=60.0, help="seconds of steady state")
    parser.add_argument("--silent", type=int, default=5000,
                        help="devices that fall silent in the reclaim phase")
    parser.add_argument("--outage", type=float, default=30.0, help="seconds all servers down")
    parser.add_argument("--storm-limit", type=float, default=240.0,
                        help="longest the recovery may take before the run gives up")
    parser.add_argument("--postgres-url", default=os.environ.get(pg.ENV_VAR)
                        or "postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "artefacts" / "bench")
    parser.add_argument("--plot", type=Path, default=REPO_ROOT / "docs" / "images" /
                        "fleet-sim.png")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    if not (100 <= args.devices <= 1_000_000 and 1 <= args.replicas <= 4
            and args.outage < args.ttl and 10 <= args.connections <= 10_000):
        parser.error("devices 100-1,000,000, replicas 1-4, connections 10-10,000, and the "
                     "outage shorter than the TTL (the storm is of heartbeats)")
    return args


async def drive(fleet: Fleet, servers: list[ServerProcess], args: argparse.Namespace,
                url: str, silent: list[SimDevice]) -> dict[str, Any]:
    """The three phases; returns their summaries."""
    started = time.monotonic()
    limit = started + 3600  # a backstop: every phase below ends by itself
    tasks = [asyncio.create_task(fleet.scheduler(limit))]
    tasks += [asyncio.create_task(fleet.worker(n, limit)) for n in range(args.connections)]
    phases: dict[str, Any] = {}

    async def run_phase(name: str, seconds: float, done: Any = None) -> list[dict[str, Any]]:
        rows, end = [], time.monotonic() + seconds
        while time.monotonic() < end:
            await asyncio.sleep(1.0)
            row = fleet.tick(name, started)
            rows.append(row)
            print(f"[{row['t']:6.1f} s] {name:8} ok {row['ok']:5}/s  503 {row['shed']:5}  "
                  f"errors {row['errors']:5}  timeouts {row['timeouts']:3}  p50 "
                  f"{row['p50_ms'] or 0:7.1f} ms  p99 {row['p99_ms'] or 0:7.1f} ms  "
                  f"back {row['back']:6}  queued {row['queued']:6}", flush=True)
            if done is not None and done():
                break
        return rows

    phases["steady"] = summarise(await run_phase("steady", args.steady))
    last = await asyncio.to_thread(fall_silent, url, silent, 10.0)
    silent_ids = {d.index for d in silent}
    fleet.heap = [(at, i) for at, i in fleet.heap if i not in silent_ids]
    heapq.heapify(fleet.heap)
    wait = last - time.time() + 2 * min(30.0, args.ttl / 4) + 5
    rows = await run_phase("reclaim", wait, done=None)
    lags = await asyncio.to_thread(reclaim_lags, url, silent)
    phases["reclaim"] = {**summarise(rows), "silent": len(silent), "reclaimed": len(lags),
                         "lag_p50_s": percentile(lags, 50), "lag_p99_s": percentile(lags, 99),
                         "lag_max_s": lags[-1] if lags else None}
    fleet.server_up = False
    await asyncio.gather(*(asyncio.to_thread(s.stop) for s in servers))
    phases["outage"] = summarise(await run_phase("outage", args.outage))
    await asyncio.gather(*(asyncio.to_thread(s.start) for s in servers))
    fleet.server_back()
    back_from = time.monotonic()
    everyone = len(fleet.devices) - len(silent)
    rows = await run_phase("storm", args.storm_limit,
                           done=lambda: len(fleet.seen_back) >= everyone)
    phases["storm"] = {**summarise(rows), "devices": everyone, "back": len(fleet.seen_back),
                       "all_back_after_s": round(time.monotonic() - back_from, 1)
                       if len(fleet.seen_back) >= everyone else None}
    phases["after"] = summarise(await run_phase("after", 10))
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return phases


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    latencies = sorted(x for row in rows for x in row["latencies"])
    # Ticks are a second apart or a little more on a busy machine: count real seconds.
    seconds = max(1.0, rows[-1]["t"] - rows[0]["t"] + 1.0) if rows else 1.0
    return {"seconds": round(seconds, 1), "heartbeats_per_s": sum(r["ok"] for r in rows) / seconds,
            "p50_ms": percentile(latencies, 50) * 1000 if latencies else None,
            "p99_ms": percentile(latencies, 99) * 1000 if latencies else None,
            "shed_503": sum(r["shed"] for r in rows), "errors": sum(r["errors"] for r in rows),
            "timeouts": sum(r["timeouts"] for r in rows)}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault(pg.ENV_VAR, args.postgres_url)
    args.out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="seatkeeper-fleet-") as tmp, ExitStack() as stack:
        url = stack.enter_context(pg.fresh_postgres_database())
        key, token = Path(tmp) / "signing-key.pem", None
        servers: list[ServerProcess] = []
        for n in range(args.replicas):
            server = ServerProcess(url, home=Path(tmp) / f"replica{n}", signing_key_path=key,
                                   lease_ttl=args.ttl, heartbeat_interval=args.interval,
                                   admin_token=token, extra_args=args.server_arg)
            servers.append(stack.enter_context(server))
            token = server.admin_token
        print(f"{args.replicas} replica(s) on {', '.join(s.url for s in servers)}; writing "
              f"{args.devices:,} devices", flush=True)
        fleet_rows = populate(url, args.devices, args.per_account, args.ttl)
        silent = rng.sample(fleet_rows, min(args.silent, args.devices // 2))
        fleet = Fleet(fleet_rows, [s.port for s in servers], args.interval, args.connections,
                      rng)
        phases = asyncio.run(drive(fleet, servers, args, url, silent))
    series = [{k: v for k, v in row.items() if k not in ("latencies",)} for row in fleet.rows]
    result = {"config": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
              "loadavg_after": list(os.getloadavg()), "phases": phases, "series": series}
    (args.out / "fleet_sim.json").write_text(json.dumps(result, indent=2) + "\n")
    plot(series, phases, args, args.plot)
    print(json.dumps(phases, indent=2))
    print(f"wrote {args.out / 'fleet_sim.json'} and {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
