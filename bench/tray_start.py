"""Tray start-up and idle memory (GTK backend), against a bare pystray icon as the floor.

    .venv/bin/python bench/tray_start.py [--runs 7] [--idle 5] [--compare OTHER_CHECKOUT]

On a virtual desktop (Xvfb + trayer, as the desktop tests use), each run starts a
process under dbus-run-session and measures:

- time from process start to its icon docked in the tray host (the icon's window
  reparented into trayer, polled every 5 ms through the X server);
- the CPU time (user + system) the process had used when it was seen docked: its work
  before the icon, which the machine's load does not stretch;
- RSS once it has been idle for `--idle` seconds after docking, and its wake-ups per
  second (context switches of all its threads) over that idle time, less the first
  two seconds (the agent's first fetches);
- for the agent, time from process start to its seat held (the log's `-> active`: the
  server's first answer, which the icon shows next).

The floor is a bare pystray icon with the GTK backend and no agent behind it: the
interpreter, GTK, Pillow and pystray. The libraries' floor is the same icon in a process
that also imports requests and APScheduler: the libraries the agent was asked to be built
on, plus PyGObject (the memory target is <= 1.2 x its RSS). The agent is `seatkeeper
run`, logged in against the real server (SQLite) and holding a seat. The three kinds of
run alternate, so drift in the machine's load hits them alike. `--compare DIR` adds a
fourth kind: the agent of another checkout (DIR's `.import-names` first on PYTHONPATH,
e.g. `git archive main | tar -x -C DIR`), for before and after in one run. Prints a
Markdown table;
JSON goes to artefacts/bench/tray_start.json (`--out DIR` elsewhere).
"""

from __future__ import annotations

import argparse
import compileall
import datetime as dt
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from bench.procstat import context_switches, cpu_seconds  # noqa: E402
from tests.desktop.screen import Desktop, missing_tools  # noqa: E402
from tests.support.agent import AgentProcess  # noqa: E402
from tests.support.api import Api  # noqa: E402
from tests.support.procs import ServerProcess  # noqa: E402

FLOOR_NAME = "seatkeeper-floor"
FLOOR = f"""
import os
os.environ["PYSTRAY_BACKEND"] = "gtk"
import gi
gi.require_version("GLib", "2.0")
from gi.repository import GLib
GLib.set_prgname({FLOOR_NAME!r})
from PIL import Image
import pystray
pystray.Icon("floor", Image.new("RGBA", (64, 64), (46, 158, 68, 255)), "floor").run()
"""
# The floor plus the other libraries the agent was asked to be built on.
LIBRARIES = FLOOR.replace("import pystray\n", "import pystray\nimport requests, "
                          "apscheduler.schedulers.background, apscheduler.executors.pool\n")
RECORD = 'echo "$$" > "$0"; exec "$@"'
POLL_S = 0.005
DOCK_TIMEOUT_S = 30.0


def byte_compile(tree: Path) -> None:
    """Byte-compile a tree's agent and server, as installing the package does (pip compiles
    what it installs, as it did the floor's libraries): else, with PYTHONDONTWRITEBYTECODE
    set (this machine sets it), every start would compile the agent's modules again."""
    for folder in ("agent", "server"):
        compileall.compile_dir(tree / folder, quiet=1)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def seat_held_s(log_file: Path | None, since: float) -> float | None:
    """Seconds from `since` (wall clock) to the first `-> active` the agent logged after it."""
    if log_file is None or not log_file.exists():
        return None
    for line in log_file.read_text(encoding="utf-8", errors="replace").splitlines():
        if " -> active" not in line:
            continue
        try:
            at = dt.datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()
        except ValueError:
            continue
        if at >= since - 0.001:
            return at - since
    return None


def measure(desktop: Desktop, command: list[str], name: str, env: dict[str, str],
            idle_s: float, work: Path, log_file: Path | None = None
            ) -> tuple[float, int, float | None, float, float]:
    """(seconds from start to docked, RSS in KiB after idling, seconds from start to the seat
    held, for an agent whose log is `log_file`, wake-ups per second idle, CPU seconds the
    process had used when it was seen docked) for one run of `command`."""
    pid_file = work / f"{name}.pid"
    pid_file.unlink(missing_ok=True)
    wall = time.time()
    started = time.perf_counter()
    proc = subprocess.Popen(["dbus-run-session", "--", "sh", "-c", RECORD, str(pid_file),
                             *command], env=env, cwd=REPO_ROOT, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while desktop.docked_icon(name) is None:
            if proc.poll() is not None or time.perf_counter() - started > DOCK_TIMEOUT_S:
                raise RuntimeError(f"{name} did not dock (exit {proc.poll()})")
            time.sleep(POLL_S)
        docked = time.perf_counter() - started
        pid = int(pid_file.read_text())
        cpu = cpu_seconds(pid)
        settle = min(2.0, idle_s / 2)
        time.sleep(settle)
        switches, since = context_switches(pid), time.perf_counter()
        time.sleep(idle_s - settle)
        wakeups = (context_switches(pid) - switches) / (time.perf_counter() - since)
        return docked, rss_kib(pid), seat_held_s(log_file, wall), wakeups, cpu
    finally:
        if pid_file.exists():
            os.kill(int(pid_file.read_text()), signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        while desktop.docked_icon(name) is not None:
            time.sleep(0.05)


def summary(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--idle", type=float, default=5.0, help="seconds idle before RSS")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "artefacts" / "bench")
    parser.add_argument("--compare", type=Path, default=None, metavar="DIR",
                        help="also run the agent of the checkout in DIR (its .import-names)")
    args = parser.parse_args()
    missing = missing_tools()
    if missing:
        print(f"missing: {', '.join(missing)} (scripts/test installs them as root)")
        return 2
    out_dir = args.out
    out_dir.mkdir(parents=True, exist_ok=True)
    byte_compile(REPO_ROOT)
    if args.compare is not None:
        byte_compile(args.compare)
    with tempfile.TemporaryDirectory(prefix="tray-bench-") as tmp:
        work = Path(tmp)
        server = ServerProcess(f"sqlite:///{work / 'server.db'}", home=work / "server",
                               signing_key_path=work / "key.pem", lease_ttl=900,
                               heartbeat_interval=300)
        with server, Desktop(work / "shots") as desktop:
            api = Api(server.url, server.admin_token)
            account, _ = api.new_account(seats=2)
            agent = AgentProcess(work / "agent", server_url=server.url, device_name="bench-pc")
            agent.login(account["email"], account["password"])
            env = {**agent.env, "DISPLAY": desktop.display, "PYSTRAY_BACKEND": "gtk"}
            env.pop("DBUS_SESSION_BUS_ADDRESS", None)
            runs: dict[str, list[tuple[float, int, float | None, float, float]]] = {
                "floor": [], "libraries": [], "agent": []}
            if args.compare is not None:
                runs["compared"] = []
            log_file = agent.log_dir / "seatkeeper.log"
            agent_command = [sys.executable, "-m", "seatkeeper", "run"]
            for _ in range(args.runs):
                runs["floor"].append(measure(desktop, [sys.executable, "-c", FLOOR],
                                             FLOOR_NAME, env, args.idle, work))
                runs["libraries"].append(measure(desktop, [sys.executable, "-c", LIBRARIES],
                                               FLOOR_NAME, env, args.idle, work))
                runs["agent"].append(measure(desktop, agent_command, "seatkeeper", env,
                                             args.idle, work, log_file))
                if args.compare is not None:
                    other = {**env, "PYTHONPATH": str(args.compare.resolve() / ".import-names")}
                    runs["compared"].append(measure(desktop, agent_command, "seatkeeper", other,
                                                    args.idle, work, log_file))
            api.close()
    result = {
        "date": time.strftime("%Y-%m-%d"), "python": platform.python_version(),
        "cpus": os.cpu_count(), "load": os.getloadavg(), "runs": args.runs, "idle_s": args.idle,
        **{name: {"docked_s": summary([v[0] for v in values]),
                  "rss_mib": summary([v[1] / 1024 for v in values]),
                  "wakeups_per_s": summary([v[3] for v in values]),
                  "cpu_to_dock_s": summary([v[4] for v in values]),
                  **({"seat_held_s": summary([v[2] for v in values if v[2] is not None])}
                     if any(v[2] is not None for v in values) else {}),
                  "raw": values} for name, values in runs.items()},
    }
    if args.compare is not None:
        result["compared_with"] = str(args.compare)
    (out_dir / "tray_start.json").write_text(json.dumps(result, indent=2))
    names = ["agent", "floor", "libraries", *(["compared"] if args.compare else [])]
    print("| measure | agent | floor (bare icon) | libraries' floor (+ requests, APScheduler) "
          f"|{' compared agent |' if args.compare else ''}\n"
          f"| --- |{' ---: |' * len(names)}")
    for key, unit, scale, places in (("docked_s", "ms", 1000.0, 0), ("rss_mib", "MiB", 1.0, 0),
                                     ("cpu_to_dock_s", "ms", 1000.0, 0),
                                     ("seat_held_s", "ms", 1000.0, 0),
                                     ("wakeups_per_s", "/s", 1.0, 1)):
        cells = []
        for name in names:
            m = result[name].get(key)
            cells.append("" if m is None else f"{m['median'] * scale:.{places}f} "
                         f"({m['min'] * scale:.{places}f}-{m['max'] * scale:.{places}f}) {unit}")
        print(f"| {key}, median (min-max) | {' | '.join(cells)} |")
    floor = result["floor"]["docked_s"]["median"]
    floor_cpu = result["floor"]["cpu_to_dock_s"]["median"]
    for name in ("agent", "compared"):
        if name in result:
            ratio = result[name]["docked_s"]["median"] / floor
            cpu = result[name]["cpu_to_dock_s"]["median"] / floor_cpu
            print(f"{name}: docked {ratio:.2f} x the bare icon, CPU to docked {cpu:.2f} x "
                  "(medians)")
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
