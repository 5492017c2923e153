"""`seatkeeper demo` (what `./scripts/demo` runs) as someone trying it on their own computer:
it never touches their real login, and the command it prints works as printed."""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import time
from pathlib import Path
from typing import IO

from tests.agent.faultserver import closed_port
from tests.scenarios.common import ScenarioServer
from tests.support.api import Api
from tests.support.procs import REPO_ROOT

SEATKEEPER = REPO_ROOT / ".venv" / "bin" / "seatkeeper"
TRY = re.compile(r"^    (SEATKEEPER_HOME=\S+ \S+ status)$", re.MULTILINE)


def own_env(home: Path) -> dict[str, str]:
    """A person's session: their own HOME (so their own agent folders), no SEATKEEPER_*."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SEATKEEPER_", "XDG_")) and k not in ("DISPLAY",
                                                                      "WAYLAND_DISPLAY")}
    (home / "tmp").mkdir(parents=True, exist_ok=True)
    return {**env, "HOME": str(home), "TMPDIR": str(home / "tmp"),
            "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
            "SEATKEEPER_PLATFORM": "null", "PYTHONUNBUFFERED": "1"}


def read_until(out: IO[str], pattern: re.Pattern[str], proc: subprocess.Popen[str],
               timeout: float = 60) -> str:
    """What the demo printed, up to the line matching `pattern`; fail if it never comes."""
    seen = ""
    deadline = time.monotonic() + timeout
    while not pattern.search(seen):
        assert time.monotonic() < deadline and proc.poll() is None, f"the demo said:\n{seen}"
        if select.select([out], [], [], 0.5)[0]:  # the demo prints whole lines
            seen += out.readline()
    return seen


def test_the_demo_keeps_to_its_own_folder_and_its_command_works(
        scenario_server: ScenarioServer, scenario_api: Api, tmp_path: Path) -> None:
    """A real login stays as it was; the printed command reaches the demo's agent and shows
    its seat; Ctrl+C ends the demo and removes its folder."""
    env = own_env(tmp_path)
    account, _ = scenario_api.new_account(seats=1)
    real = subprocess.run([str(SEATKEEPER), "login", "--server", scenario_server.url,
                           "--email", account["email"], "--password-stdin"],
                          input=account["password"] + "\n", env=env, capture_output=True,
                          text=True, timeout=60, check=False)
    assert real.returncode == 0, real.stderr
    session = tmp_path / ".local" / "share" / "seatkeeper" / "session.json"
    before = session.read_bytes()

    demo = subprocess.Popen([str(SEATKEEPER), "demo", "--headless", "--port", str(closed_port())],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert demo.stdout is not None
        said = read_until(demo.stdout, TRY, demo)
        command = TRY.search(said).group(1)  # type: ignore[union-attr]
        folder = Path(re.search(r"SEATKEEPER_HOME=(\S+)", command).group(1))  # type: ignore[union-attr]
        assert folder.is_relative_to(tmp_path / "tmp") and folder.is_dir()
        assert "your own login is not touched" in said
        deadline = time.monotonic() + 30
        while True:  # as printed, in a shell, from another folder
            shown = subprocess.run(["sh", "-c", command], env=env, cwd=tmp_path,
                                   capture_output=True, text=True, timeout=60, check=False)
            assert shown.returncode == 0, shown.stderr
            if shown.stdout.startswith("Seat 1 of 2"):
                break
            assert time.monotonic() < deadline, shown.stdout
            time.sleep(0.5)
        assert "demo@example.com on http://127.0.0.1:" in shown.stdout
    finally:
        demo.send_signal(signal.SIGINT)
        out, _ = demo.communicate(timeout=30)
    assert demo.returncode == 0, out
    assert not folder.exists()
    assert session.read_bytes() == before
    mine = subprocess.run([str(SEATKEEPER), "status", "--json"], env=env, capture_output=True,
                          text=True, timeout=60, check=True)
    assert json.loads(mine.stdout)["account"] == account["email"]
