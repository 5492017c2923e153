"""Applications of the local API in the tests: raw connections, the SDK in a subprocess, C.

    app = SdkApp.start(agent, "PIX4Dmapper", "4.9.0")   # python -m tests.support.sdk_app
    app.opened                                          # its first line: session id, holding
    app.next_event(timeout=5)                           # a SeatEvent it printed
    app.close() / app.kill()                            # close_session, or SIGKILL

    with raw(agent) as conn:                            # one JSON-lines connection
        conn.call("seat")                               # the answer, {"ok": …}
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

from tests.support.agent import AgentProcess
from tests.support.procs import REPO_ROOT

EXAMPLE_C = REPO_ROOT / "examples" / "seat_check.c"


def address(agent: AgentProcess) -> str:
    """The agent's local API address (its socket)."""
    return str(agent.runtime_dir / "agent.sock")


class Raw:
    """One connection to the agent's socket, JSON lines by hand."""

    def __init__(self, path: str, timeout: float = 15.0) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.reader: IO[bytes] = self.sock.makefile("rb")

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def answer(self) -> dict[str, Any]:
        line = self.reader.readline()
        assert line, "the agent closed the connection"
        result: dict[str, Any] = json.loads(line)
        return result

    def call(self, op: str, **args: Any) -> dict[str, Any]:
        """Send `{"v": 1, "op", "args"}`; the whole answer (`ok`, `result` or `error`)."""
        self.send(json.dumps({"v": 1, "op": op, "args": args}).encode() + b"\n")
        return self.answer()

    def result(self, op: str, **args: Any) -> Any:
        answer = self.call(op, **args)
        assert answer["ok"], answer
        return answer["result"]

    def closed_by_agent(self) -> bool:
        """True once the agent has closed its end (reads end of file)."""
        try:
            return self.reader.readline() == b""
        except OSError:
            return True

    def close(self) -> None:
        self.reader.close()
        self.sock.close()

    def __enter__(self) -> Raw:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def raw(agent: AgentProcess, timeout: float = 15.0) -> Raw:
    return Raw(address(agent), timeout)


def wait_until(condition: Any, timeout: float = 10.0, step: float = 0.05) -> Any:
    """Poll `condition()` until it is truthy; its value, or the last one after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(step)


class SdkApp:
    """`tests/support/sdk_app.py` in its own process, talking to `agent` through the SDK."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.lines: queue.Queue[dict[str, Any]] = queue.Queue()
        self.skipped: list[dict[str, Any]] = []
        threading.Thread(target=self._read, daemon=True).start()
        self.opened = self.next_line(timeout=20)

    @classmethod
    def start(cls, agent: AgentProcess, app: str, version: str, released: str | None = None,
              public_key: str | None = None, *options: str) -> SdkApp:
        """`options` are sdk_app's own (`--raising-callback`, `--clock-slack S`)."""
        args = [sys.executable, "-m", "tests.support.sdk_app", app, version, *options]
        args += [released] if released else []
        args += ["--public-key", public_key] if public_key else []
        env = {**agent.env, "SEATKEEPER_LOCAL_API": address(agent)}
        env.pop("SEATKEEPER_HOME")  # the application finds the agent by its address alone
        proc = subprocess.Popen(args, cwd=REPO_ROOT, env=env, stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True)
        return cls(proc)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                self.lines.put(json.loads(line))
            except ValueError:
                self.lines.put({"unreadable_line": line})  # the test's assertion names it

    def next_line(self, timeout: float = 10.0) -> dict[str, Any]:
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"the application printed nothing within {timeout} s") from None

    def next_event(self, kind: str, timeout: float = 10.0) -> dict[str, Any]:
        """The next event line of `kind` (earlier lines of other kinds are skipped)."""
        deadline = time.monotonic() + timeout
        while True:
            line = self.next_line(max(0.01, deadline - time.monotonic()))
            if line.get("event") == kind:
                return line

    def close(self) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write("close\n")
        self.proc.stdin.flush()
        self.proc.wait(timeout=15)
        while True:
            line = self.next_line()
            if line.get("closed"):
                return line

    def ask_seat(self) -> dict[str, Any]:
        """The application asks `seat` on its own thread; its printed answer."""
        return self.ask("seat", "seat")

    def ask(self, command: str, key: str) -> dict[str, Any]:
        """Send `command` to the application's stdin; the next line it prints with `key`
        (event lines before it are kept in `skipped`)."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        while True:
            line = self.next_line()
            if key in line and "event" not in line:
                return line
            self.skipped.append(line)

    def events_until(self, kind: str, timeout: float = 10.0) -> list[str]:
        """The kinds of the events printed up to and with the next one of `kind`."""
        kinds = [line["event"] for line in self.skipped if "event" in line]
        self.skipped.clear()
        deadline = time.monotonic() + timeout
        while not kinds or kinds[-1] != kind:
            line = self.next_line(max(0.01, deadline - time.monotonic()))
            if "event" in line:
                kinds.append(line["event"])
        return kinds

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()

    def __enter__(self) -> SdkApp:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.kill()


def compile_c_example(out_dir: Path) -> Path:
    """examples/seat_check.c built with the system's C compiler; the executable's path."""
    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    assert compiler, "no C compiler: scripts/test installs gcc"
    binary = out_dir / "seat_check"
    done = subprocess.run([compiler, "-std=c99", "-Wall", "-Wextra", "-Werror", "-o",
                           str(binary), str(EXAMPLE_C)], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, f"the C example does not compile:\n{done.stderr}"
    return binary
