"""The real agent in subprocesses: one `SEATKEEPER_HOME` (so one device), its CLI and daemon.

    with AgentProcess(tmp_path / "laptop", server_url=proxy.url, device_name="laptop") as agent:
        agent.login(email, password)              # `seatkeeper login --password-stdin`
        agent.start()                             # `seatkeeper run --headless`
        agent.wait_for("active")                  # polls status; fails with status + log tail
        agent.cli("logout")                       # any command, as a CompletedProcess
        agent.kill()                              # SIGKILL
        agent.stop()                              # SIGTERM, then SIGKILL after a grace period
        agent.close()                             # teardown: stop, and check the exit status

The agent never touches a real keyring (the fail backend is forced, so the device
token goes to an owner-only file) nor the machine's logind (the `null` platform,
unless a test asks for another), and none of the caller's `SEATKEEPER_*`
variables leak into it. Leaving the `with` block stops the daemon, whatever happened.

A daemon that dies while the test expects it running is a failure, never hidden:
`status()` and `wait_for()` raise instead of falling back to the CLI (which rebuilds
the state from disk, so a crashed daemon could look `active`), and `close()` (the
fixtures' teardown) asserts that a daemon the test did not kill exits with status 0.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from seatkeeper.service.control import AgentNotRunning, ControlClient, ControlError, socket_path

from tests.support.procs import REPO_ROOT, log_tail

START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 10.0
CLI_TIMEOUT_S = 60.0
POLL_S = 0.1
POLICY_RUN = Path(__file__).with_name("policy_run.py")


class AgentProcess:
    """One device's agent: config file, CLI calls and the headless daemon, under `home`."""

    def __init__(self, home: Path, *, server_url: str | None = None,
                 device_name: str = "scenario-pc", seat_retry_s: float = 1,
                 env: dict[str, str | None] | None = None, system_config: Path | None = None,
                 **config: Any) -> None:
        self.home = Path(home)
        # The administrator's policy file, read instead of /etc/seatkeeper/config.toml.
        self.system_config = system_config
        self.home.mkdir(parents=True, exist_ok=True)
        self.config: dict[str, Any] = {"device_name": device_name,
                                       "seat_retry_s": seat_retry_s, **config}
        if server_url is not None:
            self.config["server_url"] = server_url
        self.extra_env: dict[str, str | None] = dict(env or {})
        self.out_path = self.home / "agent.out"
        self._proc: subprocess.Popen[bytes] | None = None
        self._out: IO[bytes] | None = None
        # The test ended the daemon on purpose (stop, kill): from then on the CLI answers.
        self._ended = False
        self._killed = False
        self.write_config()

    # -- where things are ---------------------------------------------------------------

    @property
    def config_file(self) -> Path:
        return self.home / "config.toml"

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def log_dir(self) -> Path:
        return self.home / "logs"

    @property
    def runtime_dir(self) -> Path:
        return self.home / "run"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def env(self) -> dict[str, str]:
        """The agent's environment; an `env=` value of None removes that variable."""
        base = {k: v for k, v in os.environ.items() if not k.startswith("SEATKEEPER_")}
        merged: dict[str, str | None] = {
            **base, "SEATKEEPER_HOME": str(self.home),
            "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
            "PYTHONUNBUFFERED": "1", "PYTHONFAULTHANDLER": "1",
            "SEATKEEPER_PLATFORM": "null", **self.extra_env}
        return {key: value for key, value in merged.items() if value is not None}

    def write_config(self, **changes: Any) -> None:
        """Merge `changes` into the config (None removes a key) and write config.toml."""
        for key, value in changes.items():
            if value is None:
                self.config.pop(key, None)
            else:
                self.config[key] = value
        lines = [f"{key} = {_toml(value)}" for key, value in sorted(self.config.items())]
        self.config_file.write_text("\n".join(lines) + "\n", encoding="utf-8")

    # -- the command line ---------------------------------------------------------------

    def command(self, *args: str) -> list[str]:
        """`python -m seatkeeper ARGS`, with the administrator's file if the test gave one."""
        if self.system_config is not None:
            return [sys.executable, str(POLICY_RUN), str(self.system_config), *args]
        return [sys.executable, "-m", "seatkeeper", *args]

    def cli(self, *args: str, input: str | None = None,
            timeout: float = CLI_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
        """`python -m seatkeeper ARGS` for this home; never raises on a non-zero exit."""
        return subprocess.run(self.command(*args), cwd=REPO_ROOT,
                              env=self.env, input=input, capture_output=True, text=True,
                              timeout=timeout, check=False)

    def login(self, email: str, password: str,
              server_url: str | None = None) -> subprocess.CompletedProcess[str]:
        """`seatkeeper login --password-stdin`; asserts it worked (its output in the message)."""
        args = ["login", "--email", email, "--password-stdin"]
        url = server_url or self.config.get("server_url")
        if url:
            args += ["--server", str(url)]
        done = self.cli(*args, input=password + "\n")
        assert done.returncode == 0, f"login failed ({done.returncode}):\n{_output(done)}"
        return done

    # -- the daemon ---------------------------------------------------------------------

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def run_command(self) -> list[str]:
        """The daemon's command line (the desktop tests run it with its tray)."""
        return self.command("run", "--headless")

    def start(self) -> AgentProcess:
        """Start `run --headless` and wait until its control socket answers."""
        self.launch()
        assert self._proc is not None
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise AssertionError(f"the agent exited with {self._proc.returncode} at "
                                     f"start:\n{self.logs_tail()}")
            try:
                self.control("ping")
                return self
            except AgentNotRunning:
                time.sleep(POLL_S)
        self.kill()
        raise AssertionError(f"the agent's control socket did not answer within "
                             f"{START_TIMEOUT_S:.0f} s:\n{self.logs_tail()}")

    def launch(self) -> AgentProcess:
        """Start the daemon and return at once (for a test that holds its start back)."""
        if self.alive:
            raise RuntimeError("agent already running")
        self._close_out()
        self._out = self.out_path.open("ab")
        self._ended = self._killed = False
        self._proc = subprocess.Popen(
            self.run_command(), cwd=REPO_ROOT, env=self.env,
            stdin=subprocess.DEVNULL, stdout=self._out, stderr=subprocess.STDOUT)
        return self

    def kill(self) -> None:
        """SIGKILL, as a crash or a pulled plug would."""
        self._ended = self._killed = True
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.kill()
            self._proc.wait()
        self._close_out()

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> int | None:
        """SIGTERM, wait; SIGKILL if it has not exited in `timeout`. Returns the exit status."""
        proc = self._proc
        if proc is None:
            return None
        self._ended = True
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                _abort(proc)
        self._close_out()
        return proc.returncode

    def _close_out(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None

    def control(self, op: str, **args: Any) -> Any:
        """One operation on the running daemon's control socket."""
        return ControlClient(str(socket_path(self.runtime_dir)), timeout=30).call(op, **args)

    def status(self) -> dict[str, Any]:
        """`status --json`: from the running daemon's socket; from the CLI only when the test
        ended the daemon (or never started it). A daemon that died on its own fails here."""
        if self._proc is not None and not self._ended:
            deadline = time.monotonic() + START_TIMEOUT_S
            while True:
                self.assert_alive()
                try:
                    result: dict[str, Any] = self.control("status")
                    return {**result, "running": True}
                except (AgentNotRunning, ControlError, OSError) as exc:
                    if time.monotonic() > deadline:
                        raise AssertionError(f"the agent runs but its control socket does not "
                                             f"answer ({exc}):\n{self.logs_tail()}") from None
                time.sleep(POLL_S)
        done = self.cli("status", "--json")
        assert done.returncode == 0, f"status failed ({done.returncode}):\n{_output(done)}"
        parsed: dict[str, Any] = json.loads(done.stdout)
        return parsed

    def assert_alive(self) -> None:
        """Fail, with the log, if the daemon the test started has exited by itself."""
        if self._proc is not None and not self._ended and self._proc.poll() is not None:
            self._ended = True
            raise AssertionError(f"the agent exited by itself with status "
                                 f"{self._proc.returncode}:\n{self.logs_tail()}")

    def wait_for(self, state: str, timeout: float = 20.0,
                 until: Callable[[dict[str, Any]], bool] | None = None) -> dict[str, Any]:
        """Poll until the state is `state` (and `until(status)` holds); return that status.

        On timeout, fail showing the last status and the tail of the agent's log.
        """
        deadline = time.monotonic() + timeout
        status: dict[str, Any] = {}
        while True:
            status = self.status()
            if status.get("state") == state and (until is None or until(status)):
                return status
            if time.monotonic() >= deadline:
                break
            time.sleep(POLL_S)
        condition = "" if until is None else " (with its condition)"
        raise AssertionError(
            f"the agent did not reach {state!r}{condition} within {timeout:g} s; last status:\n"
            f"{json.dumps(status, indent=2, sort_keys=True)}\n{self.logs_tail()}")

    # -- what it wrote ------------------------------------------------------------------

    def log_files(self) -> list[Path]:
        """The daemon's stdout/stderr file and every log file (rotated ones too)."""
        files = sorted(self.log_dir.glob("*")) if self.log_dir.is_dir() else []
        return [path for path in [self.out_path, *files] if path.is_file()]

    def logs_text(self) -> str:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace")
                         for path in self.log_files())

    def logs_tail(self, lines: int = 30) -> str:
        log = self.log_dir / "seatkeeper.log"
        return (f"--- {log} (tail) ---\n{log_tail(log, lines)}\n"
                f"--- {self.out_path} (tail) ---\n{log_tail(self.out_path, 10)}")

    def session(self) -> dict[str, Any]:
        """The saved session.json (server, device id, lease, release token)."""
        data: dict[str, Any] = json.loads((self.data_dir / "session.json").read_text())
        return data

    def device_token(self) -> str:
        """The device token, from the owner-only file the fail keyring sends it to."""
        return (self.data_dir / "device-token").read_text(encoding="ascii").strip()

    # -- cleanup ------------------------------------------------------------------------

    def __enter__(self) -> AgentProcess:
        return self

    def close(self, timeout: float = 5.0) -> None:
        """Teardown: stop the daemon; unless the test killed it, it must exit with status 0
        (a crash, or a SIGTERM that ends in an error, fails the test here)."""
        checked = self._proc is not None and not self._killed
        code = self.stop(timeout)
        if checked:
            assert code == 0, (f"the agent's daemon ended with status {code} (0 expected):\n"
                               f"{self.logs_tail()}")

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is None:
            self.close()
        else:
            self.stop(timeout=5)  # the test's own failure is the one to report


def close_all(agents: list[AgentProcess], timeout: float = 5.0) -> None:
    """Stop every agent; then fail if any daemon did not end cleanly (see AgentProcess.close)."""
    problems = []
    for agent in agents:
        try:
            agent.close(timeout)
        except AssertionError as exc:
            problems.append(f"{agent.home.name}: {exc}")
    assert not problems, "\n".join(problems)


def _abort(proc: subprocess.Popen[bytes]) -> None:
    """End a hung agent with SIGABRT first: its fault handler writes every thread's stack to
    its output, so the failure says where it hung; then SIGKILL."""
    proc.send_signal(signal.SIGABRT)
    try:
        proc.wait(timeout=3)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(str(value))  # a JSON string is a valid TOML basic string


def _output(done: subprocess.CompletedProcess[str]) -> str:
    return f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
