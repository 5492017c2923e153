"""Idle cost of the headless agent, and how soon a queued logout lands once the server is back.

Starts the real server (`python -m seatkeeper_server` on SQLite, `--heartbeat-interval 60
--lease-ttl 180`) and measures, against two floors taken in the same run — bare Python
processes that import and then sleep: the libraries' floor (requests, APScheduler, Pillow and
pystray, the four the agent was asked to be built on) and, as a second line, the daemon's
floor (everything `seatkeeper run --headless` imports, the agent's own modules included):

- (a) idle memory: RSS (and USS/PSS) of `seatkeeper run --headless` once it holds a seat,
  and again after the idle window; target <= 1.2 x the libraries' floor's RSS;
- (b) idle CPU: utime + stime from /proc/<pid>/stat over the idle window (60 s, one
  heartbeat due in it), as a share of one core; target < 0.1 %. Context switches of all
  its threads give the wake-ups per second;
- (c) logout after reconnection: a daemon behind a loopback FaultProxy holds a seat; the
  proxy is cut, Log Out is chosen (state `logout_pending`), and after 2-5 s offline the
  proxy is restored. The time from `restore()` to the server having revoked the token
  (polled in the server's SQLite file every 5 ms), over N trials: median and p90;
  target: median < 2 s.

With `--dbus` every process gets a D-Bus session bus of its own (a `dbus-daemon` started
for the run) and keyring resolves its backend as on a desktop (no PYTHON_KEYRING_BACKEND),
where its Secret Service path costs more.

Results: a Markdown table on stdout and artefacts/bench/agent_idle.{json,md}.

    .venv/bin/python bench/agent_idle.py                         # 60 s idle, 15 trials
    .venv/bin/python bench/agent_idle.py --idle 20 --trials 5    # a quick look
    .venv/bin/python bench/agent_idle.py --dbus                  # with a session bus
    .venv/bin/python bench/agent_idle.py --dbus --keyring        # ... and a Secret Service
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import random
import secrets
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from bench.procstat import CLK_TCK, context_switches, cpu_seconds, memory  # noqa: E402
from tests.support.agent import AgentProcess  # noqa: E402
from tests.support.api import Api  # noqa: E402
from tests.support.procs import ServerProcess  # noqa: E402
from tests.support.proxy import FaultProxy  # noqa: E402

HEARTBEAT_S = 60
LEASE_TTL_S = 180
TARGET_RSS_RATIO = 1.2
TARGET_CPU_PCT = 0.1
TARGET_MEDIAN_S = 2.0

# The libraries' floor: the four libraries the agent was asked to be built on, then nothing
# (pystray with its dummy backend: the headless agent has no display).
LIBRARIES_FLOOR = """
import sys, time
import requests, PIL.Image
import apscheduler.schedulers.background, apscheduler.executors.pool
import pystray
print("ready", flush=True)
time.sleep(3600)
"""
# The daemon's floor: what `seatkeeper run --headless` imports, then nothing. The keyring
# backend is resolved as keyring itself resolves it (that loads the backends' modules).
DAEMON_FLOOR = """
import sys, time
import requests, truststore, platformdirs, keyring, sqlite3
import apscheduler.schedulers.background, apscheduler.executors.pool
import cryptography.hazmat.primitives.asymmetric.ed25519
import seatkeeper.cli, seatkeeper.runner, seatkeeper.service.daemon
keyring.get_keyring()
print("ready", flush=True)
time.sleep(3600)
"""
FLOORS = {"floor": LIBRARIES_FLOOR, "daemon_floor": DAEMON_FLOOR}
BUS_NOTE = {(True, True): "With a D-Bus session bus and an unlocked gnome-keyring on it",
            (True, False): "With a D-Bus session bus, keyring resolving its backend",
            (False, False): "No session bus, keyring backend: fail"}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--idle", type=float, default=60.0,
                        help="seconds of idle measured for CPU (default 60)")
    parser.add_argument("--settle", type=float, default=6.0,
                        help="seconds after the seat is taken before memory is read and the "
                        "idle window starts (default 6: a 60 s window then holds the first "
                        "heartbeat, due 54-66 s after the seat was taken)")
    parser.add_argument("--trials", type=int, default=15,
                        help="logout-after-reconnection trials (default 15)")
    parser.add_argument("--offline", default="2,5",
                        help="offline time before the restore, uniform MIN,MAX seconds")
    parser.add_argument("--seed", type=int, default=None, help="for the offline times")
    parser.add_argument("--dbus", action="store_true",
                        help="give every process a D-Bus session bus, keyring resolving its "
                        "backend as on a desktop")
    parser.add_argument("--keyring", action="store_true",
                        help="with --dbus: an unlocked gnome-keyring on the bus, so the "
                        "device token lives in the Secret Service")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "artefacts" / "bench",
                        help="where agent_idle.json and .md go")
    args = parser.parse_args(argv)
    low, high = (float(x) for x in args.offline.split(","))
    args.offline = (low, high)
    if args.keyring and not args.dbus:
        parser.error("--keyring needs --dbus")
    if not (1 <= args.idle <= 3600 and 1 <= args.trials <= 200 and 0 < low <= high):
        parser.error("idle 1-3600 s, trials 1-200, offline 0 < MIN <= MAX")
    return args


# -- pieces --------------------------------------------------------------------------------

def start_session_bus(keyring: bool, work: Path) -> tuple[subprocess.Popen[str], str]:
    """A private D-Bus session bus for the run: the daemon and its address; with `keyring`,
    an unlocked gnome-keyring on it (it exits with the bus)."""
    proc = subprocess.Popen(["dbus-daemon", "--session", "--nofork", "--print-address=1"],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    address = proc.stdout.readline().strip()
    if not address:
        proc.kill()
        raise RuntimeError("dbus-daemon did not start")
    if keyring:
        subprocess.run(["gnome-keyring-daemon", "--unlock", "--components=secrets"],
                       input="bench", text=True, capture_output=True, timeout=30, check=True,
                       env={**os.environ, "DBUS_SESSION_BUS_ADDRESS": address,
                            "XDG_DATA_HOME": str(work / "keyring-data")})
        time.sleep(0.5)  # its collection is unlocked a moment after it answers
    return proc, address


def desktop_env(bus: str | None) -> dict[str, str | None]:
    """The environment changes for a run with a session bus (None removes a variable)."""
    if bus is None:
        return {}
    return {"DBUS_SESSION_BUS_ADDRESS": bus, "PYTHON_KEYRING_BACKEND": None}


def start_floor(home: Path, code: str, bus: str | None) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEATKEEPER_")}
    env.update({"SEATKEEPER_HOME": str(home), "PYSTRAY_BACKEND": "dummy",
                "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"})
    env.pop("DBUS_SESSION_BUS_ADDRESS", None)
    for key, value in desktop_env(bus).items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO_ROOT, env=env,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != "ready":
        proc.kill()
        raise RuntimeError("the floor process did not start")
    return proc


def token_revoked(db_path: Path, token: str) -> bool:
    digest = hashlib.sha256(token.encode("ascii")).hexdigest()
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5)
    try:
        row = db.execute("SELECT revoked_at FROM tokens WHERE hash = ?", (digest,)).fetchone()
    finally:
        db.close()
    return row is not None and row[0] is not None


def log_events_after(log_path: Path, since: float) -> list[tuple[float, str]]:
    """(wall time, message) of the agent's log lines at or after `since` (time.time())."""
    events = []
    for line in log_path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            stamp = dt.datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()
        except ValueError:
            continue
        if stamp >= since - 0.002:  # the log's stamps are in whole milliseconds
            events.append((stamp, line[24:]))
    return events


def what_woke_it(log_path: Path, restored_at: float) -> tuple[str, float | None]:
    """Whether the connectivity probe or the outbox's own retry found the server first."""
    for stamp, message in log_events_after(log_path, restored_at):
        if "the license server answers again" in message:
            return "probe", stamp - restored_at
        if "outbox: logout" in message and "delivered" in message:
            return "retry", None
    return "unknown", None


def percentile(values: list[float], q: float) -> float:
    """Linear-interpolated percentile (q in 0..100)."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    pos = (len(ordered) - 1) * q / 100
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def idle_phase(args: argparse.Namespace, server: ServerProcess, api: Api, account: dict[str, Any],
               license_id: str, work: Path, bus: str | None) -> dict[str, Any]:
    floors = {who: start_floor(work / f"{who}-home", code, bus) for who, code in FLOORS.items()}
    floor = floors["floor"]
    daemon = AgentProcess(work / "idle-agent", server_url=server.url, device_name="bench-idle",
                          env={"DBUS_SESSION_BUS_ADDRESS": None, **desktop_env(bus)})
    try:
        daemon.login(account["email"], account["password"])
        daemon.start()
        daemon.wait_for("active")
        assert daemon.pid is not None
        time.sleep(args.settle)
        mem_floor, mem_daemon = memory(floor.pid), memory(daemon.pid)
        mem_daemon_floor = memory(floors["daemon_floor"].pid)
        beats_before = lease_heartbeat(api, license_id)
        cpu0 = {"floor": cpu_seconds(floor.pid), "daemon": cpu_seconds(daemon.pid)}
        cs0 = {"floor": context_switches(floor.pid), "daemon": context_switches(daemon.pid)}
        start = time.monotonic()
        time.sleep(args.idle)
        elapsed = time.monotonic() - start
        cpu1 = {"floor": cpu_seconds(floor.pid), "daemon": cpu_seconds(daemon.pid)}
        cs1 = {"floor": context_switches(floor.pid), "daemon": context_switches(daemon.pid)}
        mem_after = memory(daemon.pid)
        beats_after = lease_heartbeat(api, license_id)
        state = daemon.status()["state"]
    finally:
        daemon.stop()
        for proc in floors.values():
            proc.kill()
            proc.wait()
    cpu = {who: cpu1[who] - cpu0[who] for who in cpu0}
    return {
        "floor_memory_mib": mem_floor,
        "daemon_floor_memory_mib": mem_daemon_floor,
        "daemon_memory_mib": mem_daemon,
        "daemon_memory_after_idle_mib": mem_after,
        "rss_ratio": mem_daemon["VmRSS"] / mem_floor["VmRSS"],
        "rss_ratio_after_idle": mem_after["VmRSS"] / mem_floor["VmRSS"],
        "rss_ratio_daemon_floor": mem_daemon["VmRSS"] / mem_daemon_floor["VmRSS"],
        "idle_s": elapsed,
        "cpu_s": cpu,
        "cpu_pct_of_core": {who: 100 * cpu[who] / elapsed for who in cpu},
        "cpu_resolution_pct": 100 / CLK_TCK / elapsed,
        "wakeups_per_s": {who: (cs1[who] - cs0[who]) / elapsed for who in cs0},
        "heartbeat_seen": beats_after != beats_before,
        "state_after_idle": state,
    }


def lease_heartbeat(api: Api, license_id: str) -> list[str | None]:
    response = api.admin_get(f"/v1/admin/licenses/{license_id}")
    response.raise_for_status()
    return [lease["last_heartbeat_at"] for lease in response.json()["leases"]]


def restore_phase(args: argparse.Namespace, server: ServerProcess, db_path: Path,
                  account: dict[str, Any], work: Path) -> dict[str, Any]:
    rng = random.Random(args.seed)
    latencies: list[float] = []
    trials: list[dict[str, Any]] = []
    with FaultProxy(server.port) as proxy:
        agent = AgentProcess(work / "restore-agent", server_url=proxy.url,
                             device_name="bench-restore")
        try:
            agent.login(account["email"], account["password"])
            agent.start()
            for number in range(args.trials):
                if number:
                    agent.control("login", email=account["email"],
                                  password=account["password"], server_url=proxy.url)
                agent.wait_for("active")
                token = agent.device_token()
                proxy.cut()
                status = agent.control("logout")
                assert status["state"] == "logout_pending", status
                offline = rng.uniform(*args.offline)
                time.sleep(offline)
                assert not token_revoked(db_path, token), "the logout went through while cut"
                restored_at = time.time()
                start = time.perf_counter()
                proxy.restore()
                deadline = start + 60
                while not token_revoked(db_path, token):
                    if time.perf_counter() > deadline:
                        raise RuntimeError(f"trial {number}: no logout within 60 s of the "
                                           f"restore:\n{agent.logs_tail()}")
                    time.sleep(0.005)
                latency = time.perf_counter() - start
                latencies.append(latency)
                final = agent.wait_for("signed_out")
                assert not final["pending"], final
                woke, probe_after = what_woke_it(agent.log_dir / "seatkeeper.log", restored_at)
                trials.append({"offline_s": round(offline, 3), "latency_s": round(latency, 4),
                               "found_by": woke,
                               "probe_after_s": None if probe_after is None
                               else round(probe_after, 4)})
                print(f"  trial {number + 1:2d}: offline {offline:4.1f} s -> logout applied "
                      f"{latency * 1000:6.0f} ms after the restore (found by {woke}"
                      + (f" after {probe_after * 1000:.0f} ms" if probe_after is not None
                         else "") + ")", flush=True)
        finally:
            agent.stop()
    probe_waits = [t["probe_after_s"] for t in trials if t["probe_after_s"] is not None]
    after_probe = [t["latency_s"] - t["probe_after_s"] for t in trials
                   if t["probe_after_s"] is not None]
    return {
        "trials": trials,
        "found_by": {kind: sum(t["found_by"] == kind for t in trials)
                     for kind in ("probe", "retry", "unknown")},
        "probe_wait_median_s": statistics.median(probe_waits) if probe_waits else None,
        "probe_to_applied_median_s": statistics.median(after_probe) if after_probe else None,
        "median_s": statistics.median(latencies),
        "p90_s": percentile(latencies, 90),
        "min_s": min(latencies),
        "max_s": max(latencies),
    }


# -- report ------------------------------------------------------------------------------

def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def markdown(result: dict[str, Any]) -> str:
    idle, restore = result["idle"], result["restore"]
    floor, daemon = idle["floor_memory_mib"], idle["daemon_memory_mib"]
    second = idle["daemon_floor_memory_mib"]
    after = idle["daemon_memory_after_idle_mib"]
    cpu_pct = idle["cpu_pct_of_core"]
    rows = [
        "| measure | agent | floor | ratio / figure | target | |",
        "| --- | ---: | ---: | ---: | --- | --- |",
        f"| RSS after taking a seat (MiB) | {daemon['VmRSS']:.1f} | {floor['VmRSS']:.1f} "
        f"| {idle['rss_ratio']:.2f}x | <= {TARGET_RSS_RATIO}x "
        f"| {verdict(idle['rss_ratio'] <= TARGET_RSS_RATIO)} |",
        f"| RSS after {idle['idle_s']:.0f} s idle (MiB) | {after['VmRSS']:.1f} "
        f"| {floor['VmRSS']:.1f} | {idle['rss_ratio_after_idle']:.2f}x | <= {TARGET_RSS_RATIO}x "
        f"| {verdict(idle['rss_ratio_after_idle'] <= TARGET_RSS_RATIO)} |",
        f"| ... against the daemon's floor (its imports) | {daemon['VmRSS']:.1f} "
        f"| {second['VmRSS']:.1f} | {idle['rss_ratio_daemon_floor']:.2f}x | | |",
        f"| USS / PSS (MiB) | {daemon['Uss']:.1f} / {daemon['Pss']:.1f} "
        f"| {floor['Uss']:.1f} / {floor['Pss']:.1f} | | | |",
        f"| threads | {daemon['Threads']:.0f} | {floor['Threads']:.0f} | | | |",
        f"| CPU over {idle['idle_s']:.0f} s idle (% of a core) | {cpu_pct['daemon']:.3f} "
        f"| {cpu_pct['floor']:.3f} | {idle['cpu_s']['daemon'] * 1000:.0f} ms CPU "
        f"(resolution {idle['cpu_resolution_pct']:.3f} %) | < {TARGET_CPU_PCT} % "
        f"| {verdict(cpu_pct['daemon'] < TARGET_CPU_PCT)} |",
        f"| wake-ups per second (context switches) | {idle['wakeups_per_s']['daemon']:.1f} "
        f"| {idle['wakeups_per_s']['floor']:.1f} | | | |",
        f"| restore -> logout applied, median ({len(restore['trials'])} trials) "
        f"| {restore['median_s'] * 1000:.0f} ms | | p90 {restore['p90_s'] * 1000:.0f} ms, "
        f"max {restore['max_s'] * 1000:.0f} ms | median < {TARGET_MEDIAN_S:.0f} s "
        f"| {verdict(restore['median_s'] < TARGET_MEDIAN_S)} |",
    ]
    found = restore["found_by"]
    if restore["probe_wait_median_s"] is not None:
        rows.append(
            f"| ... of which: waiting for the next health probe (median) "
            f"| {restore['probe_wait_median_s'] * 1000:.0f} ms | | then "
            f"{restore['probe_to_applied_median_s'] * 1000:.0f} ms to the logout applied; "
            f"server found by the probe in {found['probe']}, by the outbox's retry in "
            f"{found['retry']} | | |")
    heartbeat = "yes" if idle["heartbeat_seen"] else "no"
    notes = (f"\nHeartbeat every {HEARTBEAT_S} s (lease TTL {LEASE_TTL_S} s); a heartbeat "
             f"fell in the idle window: {heartbeat}; state after it: "
             f"{idle['state_after_idle']}. Floor: requests, APScheduler, Pillow, pystray; "
             f"daemon's floor: all the daemon imports. "
             f"{BUS_NOTE[result['settings']['dbus'], result['settings']['keyring']]}. "
             f"{result['machine']}.")
    return "\n".join(rows) + "\n" + notes + "\n"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.seed is None:
        args.seed = secrets.randbelow(2**32)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="agent-bench-") as tmp:
        work = Path(tmp)
        db_path = work / "server.db"
        with ServerProcess(f"sqlite:///{db_path}", home=work / "server-home",
                           signing_key_path=work / "signing-key.pem", lease_ttl=LEASE_TTL_S,
                           heartbeat_interval=HEARTBEAT_S) as server:
            api = Api(server.url, server.admin_token)
            bus_proc, bus = start_session_bus(args.keyring, work) if args.dbus else (None, None)
            try:
                account, license = api.new_account(seats=5)
                print(f"idle: {args.settle:.0f} s to settle, then {args.idle:.0f} s measured",
                      flush=True)
                idle = idle_phase(args, server, api, account, license["id"], work, bus)
                print(f"restore: {args.trials} trials, offline {args.offline[0]:g}-"
                      f"{args.offline[1]:g} s (seed {args.seed})", flush=True)
                restore = restore_phase(args, server, db_path, account, work)
            finally:
                api.close()
                if bus_proc is not None:
                    bus_proc.kill()
                    bus_proc.wait()
    result = {
        "benchmark": "agent_idle",
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.python_implementation()} {platform.python_version()}, "
                   f"{os.cpu_count()} CPUs, load average "
                   f"{', '.join(f'{x:.1f}' for x in os.getloadavg())} at the end",
        "settings": {"idle_s": args.idle, "settle_s": args.settle, "trials": args.trials,
                     "offline_s": list(args.offline), "seed": args.seed,
                     "dbus": args.dbus, "keyring": args.keyring,
                     "heartbeat_interval_s": HEARTBEAT_S, "lease_ttl_s": LEASE_TTL_S},
        "targets": {"rss_ratio": TARGET_RSS_RATIO, "cpu_pct": TARGET_CPU_PCT,
                    "restore_median_s": TARGET_MEDIAN_S},
        "idle": idle,
        "restore": restore,
        "wall_s": time.monotonic() - started,
    }
    table = markdown(result)
    print()
    print(table)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "agent_idle.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / "agent_idle.md").write_text(table)
    print(f"wrote {args.out / 'agent_idle.json'} and agent_idle.md "
          f"({result['wall_s']:.0f} s in all)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
