"""Tray start-up and idle memory (GTK backend), against a bare pystray icon as the floor.

    .venv/bin/python bench/tray_start.py [--runs 7] [--idle 5]

On a virtual desktop (Xvfb + trayer, as the desktop tests use), each run starts a
process under dbus-run-session and measures:

- time from process start to its icon docked in the tray host (the icon's window
  reparented into trayer, polled every 5 ms through the X server);
- RSS once it has been idle for `--idle` seconds after docking.

The floor is a bare pystray icon with the GTK backend and no agent behind it: the
interpreter, GTK, Pillow and pystray. The libraries' floor is the same icon in a process
that also imports requests and APScheduler: the libraries the agent was asked to be built
on, plus PyGObject (the memory target is <= 1.2 x its RSS). The agent is `seatkeeper
run`, logged in against the real server (SQLite) and holding a seat. The three kinds of
run alternate, so drift in the machine's load hits them alike. Prints a Markdown table;
JSON goes to artefacts/bench/tray_start.json (`--out DIR` elsewhere).
"""

from __future__ import annotations

import argparse
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


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def measure(desktop: Desktop, command: list[str], name: str, env: dict[str, str],
            idle_s: float, work: Path) -> tuple[float, int]:
    """(seconds from start to docked, RSS in KiB after idling) for one run of `command`."""
    pid_file = work / f"{name}.pid"
    pid_file.unlink(missing_ok=True)
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
        time.sleep(idle_s)
        pid = int(pid_file.read_text())
        return docked, rss_kib(pid)
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
    args = parser.parse_args()
    missing = missing_tools()
    if missing:
        print(f"missing: {', '.join(missing)} (scripts/test installs them as root)")
        return 2
    out_dir = args.out
    out_dir.mkdir(parents=True, exist_ok=True)
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
            runs: dict[str, list[tuple[float, int]]] = {"floor": [], "libraries": [],
                                                         "agent": []}
            for _ in range(args.runs):
                runs["floor"].append(measure(desktop, [sys.executable, "-c", FLOOR],
                                             FLOOR_NAME, env, args.idle, work))
                runs["libraries"].append(measure(desktop, [sys.executable, "-c", LIBRARIES],
                                               FLOOR_NAME, env, args.idle, work))
                runs["agent"].append(measure(desktop, [sys.executable, "-m", "seatkeeper", "run"],
                                             "seatkeeper", env, args.idle, work))
            api.close()
    result = {
        "date": time.strftime("%Y-%m-%d"), "python": platform.python_version(),
        "cpus": os.cpu_count(), "load": os.getloadavg(), "runs": args.runs, "idle_s": args.idle,
        **{name: {"docked_s": summary([d for d, _ in values]),
                  "rss_mib": summary([r / 1024 for _, r in values]),
                  "raw": values} for name, values in runs.items()},
    }
    (out_dir / "tray_start.json").write_text(json.dumps(result, indent=2))
    print("| measure | agent | floor (bare icon) | libraries' floor (+ requests, APScheduler) "
          "|\n| --- | ---: | ---: | ---: |")
    for key, unit, scale in (("docked_s", "ms", 1000.0), ("rss_mib", "MiB", 1.0)):
        cells = []
        for name in ("agent", "floor", "libraries"):
            m = result[name][key]  # type: ignore[index]
            cells.append(f"{m['median'] * scale:.0f} ({m['min'] * scale:.0f}-"
                         f"{m['max'] * scale:.0f}) {unit}")
        print(f"| {key}, median (min-max) | {' | '.join(cells)} |")
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
