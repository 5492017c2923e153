"""The local API's speed and cost: `seat` latency, 100 idle watchers, a change's fan-out.

Starts the real server (`python -m seatkeeper_server` on SQLite, `--heartbeat-interval 60
--lease-ttl 180`) and the real headless agent holding a seat, then measures:

- (a) `seat` answered on the local channel: N requests in turn on one connection, and N
  on a new connection each (the CLI's way); median, p90, p99. Target: median < 2 ms.
- (b) 100 concurrent `watch` clients: the agent's CPU (utime + stime from /proc) over an
  idle window without watchers and over the same window with 100 connected (read by one
  selector thread here), and its RSS before and after they connected. Target: the
  difference under 0.1 % of a core and under 5 MiB.
- (c) a change reaching every watcher: an application opens (then closes) a session on
  another connection; the time from sending `open_session` to the last of the 100
  watchers reading its `changed` event, over T trials. Target: under 50 ms.

Results: a Markdown table on stdout and artefacts/bench/local_api.{json,md}.

    .venv/bin/python bench/local_api.py                       # 30 s windows, 30 trials
    .venv/bin/python bench/local_api.py --idle 10 --trials 10
"""

from __future__ import annotations

import argparse
import json
import platform
import selectors
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from bench.procstat import cpu_seconds, memory  # noqa: E402
from tests.support.agent import AgentProcess  # noqa: E402
from tests.support.api import Api  # noqa: E402
from tests.support.local_api import Raw, address  # noqa: E402
from tests.support.procs import ServerProcess  # noqa: E402

TARGET_SEAT_MS = 2.0
TARGET_CPU_PCT = 0.1
TARGET_RSS_MIB = 5.0
TARGET_FANOUT_MS = 50.0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000, help="`seat` requests per way")
    parser.add_argument("--watchers", type=int, default=100)
    parser.add_argument("--idle", type=float, default=30.0, help="each CPU window, seconds")
    parser.add_argument("--trials", type=int, default=30, help="fan-out trials")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "artefacts" / "bench")
    return parser.parse_args(argv)


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return {"median": statistics.median(ordered), "p90": at(0.9), "p99": at(0.99),
            "max": ordered[-1]}


def seat_latency(agent: AgentProcess, n: int) -> dict[str, Any]:
    """(a): ms per `seat`, on one connection and on a new connection each."""
    one: list[float] = []
    with Raw(address(agent)) as conn:
        for _ in range(50):
            conn.result("seat")  # warm up
        for _ in range(n):
            started = time.perf_counter()
            conn.result("seat")
            one.append((time.perf_counter() - started) * 1000)
    each: list[float] = []
    for _ in range(n):
        started = time.perf_counter()
        with Raw(address(agent)) as conn:
            conn.result("seat")
        each.append((time.perf_counter() - started) * 1000)
    return {"one_connection_ms": percentiles(one), "new_connection_ms": percentiles(each)}


class Watchers:
    """N watch connections, all read by one selector thread that stamps each event."""

    def __init__(self, path: str, n: int) -> None:
        self.selector = selectors.DefaultSelector()
        self.socks: list[socket.socket] = []
        self.stamps: dict[int, list[float]] = {}
        self._buffers: dict[int, bytes] = {}
        for index in range(n):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.connect(path)
            sock.sendall(b'{"v": 1, "op": "watch"}\n')
            sock.setblocking(False)
            self.socks.append(sock)
            self.stamps[index] = []
            self._buffers[index] = b""
            self.selector.register(sock, selectors.EVENT_READ, index)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            for key, _ in self.selector.select(timeout=0.2):
                index = key.data
                try:
                    chunk = key.fileobj.recv(1 << 20)  # type: ignore[union-attr]
                except BlockingIOError:
                    continue
                now = time.perf_counter()
                data = self._buffers[index] + chunk
                *lines, self._buffers[index] = data.split(b"\n")
                for line in lines:
                    if json.loads(line)["result"]["event"] == "changed":
                        self.stamps[index].append(now)

    def count(self) -> int:
        return min(len(stamps) for stamps in self.stamps.values())

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        for sock in self.socks:
            sock.close()


def idle_cpu(pid: int, window: float) -> float:
    before = cpu_seconds(pid)
    time.sleep(window)
    return cpu_seconds(pid) - before


def watchers_phase(agent: AgentProcess, args: argparse.Namespace) -> dict[str, Any]:
    """(b) and (c): CPU and RSS of 100 idle watchers, then a change's fan-out."""
    pid = agent.pid
    assert pid is not None
    time.sleep(2)
    rss_before = memory(pid)["VmRSS"]
    cpu_without = idle_cpu(pid, args.idle)
    watchers = Watchers(address(agent), args.watchers)
    try:
        time.sleep(2)  # every `current` sent
        rss_with = memory(pid)["VmRSS"]
        threads = memory(pid)["Threads"]
        cpu_with = idle_cpu(pid, args.idle)
        rss_after_idle = memory(pid)["VmRSS"]
        fanout: list[float] = []
        first: list[float] = []
        with Raw(address(agent)) as app:
            for trial in range(args.trials):
                seen = watchers.count()
                started = time.perf_counter()
                session = app.result("open_session", app="bench", version=str(trial))
                deadline = time.monotonic() + 5
                while watchers.count() <= seen and time.monotonic() < deadline:
                    time.sleep(0.001)
                stamps = [watchers.stamps[i][seen] for i in watchers.stamps]
                fanout.append((max(stamps) - started) * 1000)
                first.append((min(stamps) - started) * 1000)
                app.result("close_session", session_id=session["session_id"])
                deadline = time.monotonic() + 5
                while watchers.count() <= seen + 1 and time.monotonic() < deadline:
                    time.sleep(0.001)
                time.sleep(0.05)
    finally:
        watchers.close()
    return {
        "rss_before_mib": rss_before, "rss_with_mib": rss_with,
        "rss_after_idle_mib": rss_after_idle, "rss_cost_mib": rss_after_idle - rss_before,
        "threads_with": threads, "cpu_without_s": cpu_without, "cpu_with_s": cpu_with,
        "cpu_cost_pct": max(0.0, cpu_with - cpu_without) / args.idle * 100,
        "fanout_last_ms": percentiles(fanout), "fanout_first_ms": percentiles(first),
    }


def table(result: dict[str, Any]) -> str:
    seat, watch = result["seat"], result["watchers"]
    one, each = seat["one_connection_ms"], seat["new_connection_ms"]
    last, first = watch["fanout_last_ms"], watch["fanout_first_ms"]

    def met(ok: bool) -> str:
        return "met" if ok else "NOT met"

    rows = [
        "| measure | figure | target | |", "| --- | ---: | --- | --- |",
        f"| `seat`, one connection ({result['requests']} in turn) | median {one['median']:.3f} ms"
        f" (p90 {one['p90']:.3f}, p99 {one['p99']:.3f}) | median < {TARGET_SEAT_MS:g} ms | "
        f"{met(one['median'] < TARGET_SEAT_MS)} |",
        f"| `seat`, a new connection each | median {each['median']:.3f} ms (p90 "
        f"{each['p90']:.3f}, p99 {each['p99']:.3f}) | | |",
        f"| CPU over {result['idle_s']:g} s idle, without / with {result['watchers_n']} watchers"
        f" | {watch['cpu_without_s'] * 1000:.0f} / {watch['cpu_with_s'] * 1000:.0f} ms: "
        f"{watch['cpu_cost_pct']:.3f} % of a core | < {TARGET_CPU_PCT:g} % | "
        f"{met(watch['cpu_cost_pct'] < TARGET_CPU_PCT)} |",
        f"| RSS before / with / after the idle window | {watch['rss_before_mib']:.1f} / "
        f"{watch['rss_with_mib']:.1f} / {watch['rss_after_idle_mib']:.1f} MiB: +"
        f"{watch['rss_cost_mib']:.2f} MiB | < {TARGET_RSS_MIB:g} MiB | "
        f"{met(watch['rss_cost_mib'] < TARGET_RSS_MIB)} |",
        f"| a change to the last of {result['watchers_n']} watchers ({result['trials']} "
        f"trials) | median {last['median']:.1f} ms (p90 {last['p90']:.1f}, max "
        f"{last['max']:.1f}) | < {TARGET_FANOUT_MS:g} ms | "
        f"{met(last['max'] < TARGET_FANOUT_MS)} |",
        f"| ... to the first watcher | median {first['median']:.1f} ms | | |",
    ]
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-local-api-") as tmp:
        work = Path(tmp)
        with ServerProcess(f"sqlite:///{work / 'server.db'}", home=work / "server-home",
                           signing_key_path=work / "signing-key.pem", lease_ttl=180,
                           heartbeat_interval=60) as server:
            api = Api(server.url, server.admin_token)
            account, _ = api.new_account(seats=1)
            agent = AgentProcess(work / "agent", server_url=server.url, device_name="bench")
            try:
                agent.login(account["email"], account["password"])
                agent.start()
                agent.wait_for("active")
                result = {"python": platform.python_version(), "requests": args.requests,
                          "idle_s": args.idle, "trials": args.trials,
                          "watchers_n": args.watchers,
                          "seat": seat_latency(agent, args.requests),
                          "watchers": watchers_phase(agent, args)}
            finally:
                agent.stop()
                api.close()
    text = table(result)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "local_api.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / "local_api.md").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
