"""The Windows agent under Wine: start to a tray icon, idle RSS and CPU, against a bare icon.

    .venv/bin/python bench/windows_tray.py [--runs 3] [--idle 60]

Indicative figures only: Wine is not Windows (its own wineserver does part of the work,
and memory is counted for the Unix process that hosts the Windows one). Needs the
Windows lane's prefix (scripts/wine-python) and the desktop tools (Xvfb, xdotool,
ImageMagick). It installs a wheel of this checkout into the prefix, starts the real
server on SQLite (a heartbeat every 60 s) and Wine's explorer desktop on Xvfb, then
alternates two Windows processes under the Windows CPython:

- the floor: a bare pystray icon with the win32 backend (the interpreter, Pillow,
  pystray) and nothing behind it;
- the agent: `seatkeeper run`, logged in and holding a seat.

For each: time from process start to its icon drawn in the taskbar's notification
area (screen polled), then RSS (`VmRSS` of the hosting process) and CPU (`utime +
stime`, the process and the wineserver apart) over `--idle` seconds. JSON goes to
artefacts/bench/windows_tray.json; a Markdown table is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from tests.support.api import Api  # noqa: E402
from tests.support.procs import ServerProcess  # noqa: E402
from tests.windows import wine  # noqa: E402
from tests.windows.desktop import WineDesktop, missing_tools  # noqa: E402
from tests.windows.desktop_agent import DesktopAgent  # noqa: E402

FLOOR = """
from PIL import Image
import pystray
pystray.Icon("floor", Image.new("RGBA", (64, 64), (46, 158, 68, 255)), "floor").run(
    setup=lambda icon: setattr(icon, "visible", True))
"""
TIMEOUT_S = 60.0
TICK = os.sysconf("SC_CLK_TCK")


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def wineserver_pid() -> int:
    done = subprocess.run(["pgrep", "-f", "wineserver"], capture_output=True, text=True,
                          check=False)
    for pid in done.stdout.split():
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        if f"WINEPREFIX={wine.PREFIX}".encode() in environ:
            return int(pid)
    raise RuntimeError("no wineserver for the lane's prefix")


def measure(desktop: WineDesktop, args: list[str], env: dict[str, str],
            idle_s: float) -> dict[str, float]:
    """Start to icon (s), RSS after idling (MiB), CPU over the idle window (% of a core)."""
    started = time.perf_counter()
    proc = subprocess.Popen(wine.wine_command(*args), stdin=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=wine.wine_env(env), cwd=REPO_ROOT)
    try:
        while len(desktop.tray_icons()) != 1:
            if proc.poll() is not None or time.perf_counter() - started > TIMEOUT_S:
                raise RuntimeError(f"no icon (exit {proc.poll()})")
            time.sleep(0.02)
        shown = time.perf_counter() - started
        server = wineserver_pid()
        time.sleep(2)  # the first status, account fetch and icon updates settle
        cpu0, server0, t0 = cpu_s(proc.pid), cpu_s(server), time.perf_counter()
        time.sleep(idle_s)
        elapsed = time.perf_counter() - t0
        return {"icon_s": shown, "rss_mib": rss_kib(proc.pid) / 1024,
                "cpu_pct": 100 * (cpu_s(proc.pid) - cpu0) / elapsed,
                "wineserver_cpu_pct": 100 * (cpu_s(server) - server0) / elapsed}
    finally:
        proc.kill()
        proc.wait(timeout=30)
        while desktop.tray_icons():
            time.sleep(0.1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--idle", type=float, default=60.0)
    args = parser.parse_args()
    missing = missing_tools() + ([wine.lane_missing()] if wine.lane_missing() else [])
    if missing:
        print(f"missing: {', '.join(str(m) for m in missing)}")
        return 2
    out_dir = REPO_ROOT / "artefacts" / "bench"
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="windows-bench-") as tmp:
        work = Path(tmp)
        wine.install_checkout(wine.build_wheel(work))
        wine.start_wineserver()
        server = ServerProcess(f"sqlite:///{work / 'server.db'}", home=work / "server",
                               signing_key_path=work / "key.pem", lease_ttl=180,
                               heartbeat_interval=60)
        runs: dict[str, list[dict[str, float]]] = {"floor": [], "agent": []}
        try:
            with server, WineDesktop(work / "shots") as desktop:
                api = Api(server.url, server.admin_token)
                account, _ = api.new_account(seats=2)
                agent = DesktopAgent(work / "agent", desktop.env, server_url=server.url,
                                     device_name="bench-pc")
                agent.login(account["email"], account["password"])
                floor = work / "floor.py"
                floor.write_text(FLOOR, encoding="utf-8")
                for _ in range(args.runs):
                    runs["floor"].append(measure(desktop, [wine.windows_path(floor)],
                                                 agent.env, args.idle))
                    runs["agent"].append(measure(desktop, ["-m", "seatkeeper", "run"],
                                                 agent.env, args.idle))
                api.close()
        finally:
            wine.stop_wineserver()
    result = {"date": time.strftime("%Y-%m-%d"), "cpus": os.cpu_count(),
              "load": os.getloadavg(), "runs": args.runs, "idle_s": args.idle, **runs}
    (out_dir / "windows_tray.json").write_text(json.dumps(result, indent=2))
    print("| measure, median (min-max) | agent | floor (bare pystray icon) |\n"
          "| --- | ---: | ---: |")
    for key, unit in (("icon_s", "s"), ("rss_mib", "MiB"), ("cpu_pct", "% of a core"),
                      ("wineserver_cpu_pct", "% of a core")):
        cells = []
        for name in ("agent", "floor"):
            values = [run[key] for run in runs[name]]
            digits = 3 if "cpu" in key else 1
            cells.append(f"{statistics.median(values):.{digits}f} ({min(values):.{digits}f}-"
                         f"{max(values):.{digits}f}) {unit}")
        print(f"| {key} | {' | '.join(cells)} |")
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
