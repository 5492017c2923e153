"""`seatkeeper run`: the daemon process: instance lock, logs, agent jobs, control socket.

SIGTERM (shutdown, launchd, systemd) and SIGHUP (the session ends) give the seat back
within the shutdown budget, as the OS's own shutdown hooks do, and the process exits
within about 3 s even while the server is unreachable; SIGINT just stops.

With a tray host on Linux the icon comes first: the icon of the last known state is
shown (`seatkeeper.tray.starting`) before the agent is built, and the agent, its control
socket, jobs and session hooks are made on a thread of their own, then attached to the
tray. Elsewhere (headless, Windows, macOS, a tray host that is not there yet) the agent
is built first, then the tray.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seatkeeper import __version__, platform
from seatkeeper.config import Config
from seatkeeper.i18n import N_, _
from seatkeeper.service import logs
from seatkeeper.service.instance import AlreadyRunning, InstanceLock
from seatkeeper.service.private import private_dirs

if TYPE_CHECKING:
    # Imported when the agent is built: with a tray, after its icon is shown.
    from seatkeeper.service.control import ControlServer
    from seatkeeper.service.daemon import Agent
    from seatkeeper.tray.app import TrayApp
    from seatkeeper.tray.starting import StartingTray

log = logging.getLogger("seatkeeper.agent")
# How long Quit waits for the server to confirm the seat's release.
QUIT_DELIVERY_S = 5.0
ENDING_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP")
                       if hasattr(signal, name))


class Controls:
    """The control operations, by name, over an Agent (for the socket and the CLI alike)."""

    def __init__(self, agent: Agent) -> None:
        from seatkeeper.service import device_login

        self.agent = agent
        self.ops: dict[str, Callable[..., Any]] = {
            "ping": lambda: "pong",
            "status": lambda: agent.status().to_json(),
            "login": lambda email, password, server_url=None:
                agent.login(email, password, server_url).to_json(),
            "device_login_start": lambda server_url=None:
                device_login.start(agent, server_url),
            "device_login_poll": lambda server_url, device_code:
                device_login.poll(agent, server_url, device_code),
            "logout": lambda: agent.logout().to_json(),
            "release": lambda: agent.release().to_json(),
            "acquire": lambda license_id=None: agent.acquire(license_id).to_json(),
            "borrow": lambda days: agent.borrow(days).to_json(),
            "return": lambda: agent.return_seat().to_json(),
            "discovery": lambda: agent.continue_in_discovery().to_json(),
            "deliver": lambda: agent.deliver_now().to_json(),
            "devices": agent.devices,
            "deactivate": lambda device_id: agent.deactivate(device_id),
            "remote_deactivation": lambda enabled: agent.set_remote_deactivation(bool(enabled)),
            "account": agent.account,
        }

    def handle(self, op: str, args: dict[str, Any]) -> Any:
        from seatkeeper.service.framing import ApiError

        function = self.ops.get(op)
        if function is None:
            raise ApiError("UNKNOWN_OP", f"The agent has no operation {op!r}; `hello` lists "
                           "the local API's operations.")
        try:
            inspect.signature(function).bind(**args)
        except TypeError as exc:
            raise ApiError("INVALID_REQUEST", f"The arguments of {op!r} are not right: "
                           f"{exc}.") from None
        return function(**args)


def run(config: Config, *, headless: bool,
        before_exit: Callable[[], None] | None = None) -> int:
    """Run until SIGTERM/SIGINT (or the tray's Quit); exit code 0 on a clean stop.

    `before_exit`: called when the session's end makes the process exit at once (the
    demo removes its throwaway folder there: no `finally` runs after that exit)."""
    private_dirs(config.paths.folders)
    lock = InstanceLock(config.paths.runtime_dir)
    try:
        lock.acquire()
    except AlreadyRunning as exc:
        print(f"seatkeeper: {exc}", file=sys.stderr)
        return 1
    path = logs.setup(config.paths.log_dir, config.log_level, to_stderr=headless)
    log.info("Seatkeeper %s starting (pid %d, data %s, log %s)", __version__, os.getpid(),
             config.paths.data_dir, path)
    for warning in config.warnings:
        log.warning("%s", warning)
    stop = threading.Event()
    ending: list[int] = []  # the signal that ends the session, if one did
    starting = None if headless else _starting_tray(config, stop)
    if starting is not None:
        return _run_tray_first(config, starting, stop, ending, lock, before_exit)
    if not headless and sys.platform.startswith("linux"):
        # GTK's bindings first: the tray needs them anyway, and with them loaded the device
        # token is read through libsecret (3 MiB) rather than secretstorage (12 MiB).
        from seatkeeper.tray.backend import has_gtk

        has_gtk()
    built = _build(config, headless)
    if built is None:
        lock.release()
        return 1
    agent, server = built
    _on_signals(stop, ending)
    from seatkeeper.service.hooks import AgentEvents

    events = AgentEvents(agent, config)
    hooks = platform.current()
    server.start()
    agent.start()
    hooks.start(events)
    tray = None
    try:
        tray, why = (None, N_("no tray")) if headless else _tray(config, agent, stop, hooks)
        if tray is not None:
            tray.run()  # the main thread is the tray's until Quit or a signal
            if tray.quit_requested:
                _release_before_quit(agent)
        else:
            print(_("Seatkeeper is running headless ({why}). Use `seatkeeper status`, "
                    "`seatkeeper logout` or `seatkeeper release` from a terminal; Ctrl+C "
                    "stops it.").format(why=_(why)), flush=True)
            _wait_headless(stop, ending, hooks)
    finally:
        if ending:
            log.info("%s: the session ends", signal.Signals(ending[0]).name)
            events.shutting_down()
        if tray is not None:
            from seatkeeper.tray.starting import STATE_FILE

            _keep_for_next_start(agent, config.paths.data_dir / STATE_FILE)
        log.info("stopping")
        hooks.stop()
        server.stop()
        agent.stop()
        lock.release()
    if ending:
        if before_exit is not None:
            before_exit()
        _exit_now(0)
    return 0


def _on_signals(stop: threading.Event, ending: list[int]) -> None:
    """SIGTERM, SIGHUP and SIGINT set `stop`; the first two are kept in `ending`."""
    def on_signal(signum: int, _frame: Any) -> None:
        if signum in ENDING_SIGNALS and signum not in ending:
            ending.append(signum)
        stop.set()

    for signum in (*ENDING_SIGNALS, signal.SIGINT):
        signal.signal(signum, on_signal)


def _build(config: Config, headless: bool) -> tuple[Agent, ControlServer] | None:
    """The agent and its control channel (not started); None when the channel's address is
    taken by someone else (said in the log, and on stderr with a tray)."""
    from seatkeeper.core.errors import SeatkeeperError
    from seatkeeper.service.control import ControlServer, local_api_address
    from seatkeeper.service.daemon import Agent
    from seatkeeper.service.local_api import LocalApi

    agent = Agent(config)
    controls = Controls(agent)
    try:
        address = local_api_address(config.paths)
        server = ControlServer(address, LocalApi(agent, address, controls.handle).connect)
    except SeatkeeperError as exc:  # the channel's address is taken by someone else
        log.error("%s", exc)
        if not headless:
            print(f"seatkeeper: {exc}", file=sys.stderr)
        agent.stop()
        return None
    return agent, server


def _starting_tray(config: Config, stop: threading.Event) -> StartingTray | None:
    """Linux with a tray host there now: the icon of the last known state, ready to run
    before the agent is built. None: the agent comes first (and the tray after it, if one
    can be shown: the old way decides, and says why not)."""
    if not sys.platform.startswith("linux"):
        return None
    from seatkeeper.tray.backend import choose

    choice = choose(os.environ, wait_s=0)
    if choice.backend not in ("gtk", "appindicator"):
        return None
    from seatkeeper.tray.starting import STATE_FILE, StartingTray, TrayUnavailable

    log.info("tray backend %s: %s", choice.backend, choice.reason)
    try:
        return StartingTray(choice.backend, config.paths.data_dir / STATE_FILE, stop)
    except TrayUnavailable as exc:
        log.warning("no tray: %s", exc)
        return None


def _run_tray_first(config: Config, starting: StartingTray, stop: threading.Event,
                    ending: list[int], lock: InstanceLock,
                    before_exit: Callable[[], None] | None) -> int:
    """The icon's loop on the main thread at once; the agent built on a thread of its own
    once the icon is up, then attached to the tray. Quit or a signal that comes before the
    agent is ready waits for it, so the seat is given back as it would be later."""
    made: dict[str, Any] = {}
    done = threading.Event()

    def boot() -> None:
        try:
            built = _build(config, headless=False)
            if built is None:
                made["failed"] = True
                starting.post(starting.icon.stop)
                return
            agent, server = built
            from seatkeeper.service.hooks import AgentEvents

            events = AgentEvents(agent, config)
            hooks = platform.current()
            made.update(agent=agent, server=server, events=events)
            server.start()
            agent.start()
            hooks.start(events)
            made["hooks"] = hooks
            from seatkeeper.tray.app import TrayApp

            tray = TrayApp(agent, backend=starting.backend, log_dir=config.paths.log_dir,
                           stop=stop, hooks=hooks, icon=starting.icon,
                           state_file=starting.state_file)
            made["tray"] = tray
            if starting.attach(tray):
                log.info("the agent is attached to the tray")
        except Exception:
            log.exception("the agent could not start")
            made["failed"] = True
            starting.post(starting.icon.stop)
        finally:
            done.set()

    _on_signals(stop, ending)
    started = threading.Event()

    def boot_once() -> None:
        started.set()
        boot()

    starting.run(boot_once)  # the main thread is the tray's until Quit or a signal
    if started.is_set():
        done.wait()  # the agent may still be starting: let it finish, then stop it
    agent: Agent | None = made.get("agent")
    tray: TrayApp | None = made.get("tray")
    try:
        if agent is not None and (starting.quit_requested
                                  or (tray is not None and tray.quit_requested)):
            _release_before_quit(agent)
    finally:
        events = made.get("events")
        if ending and events is not None:
            log.info("%s: the session ends", signal.Signals(ending[0]).name)
            events.shutting_down()
        if agent is not None:
            _keep_for_next_start(agent, starting.state_file)
        log.info("stopping")
        if made.get("hooks") is not None:
            made["hooks"].stop()
        if made.get("server") is not None:
            made["server"].stop()
        if agent is not None:
            agent.stop()
        lock.release()
    if made.get("failed"):
        return 1
    if ending:
        if before_exit is not None:
            before_exit()
        _exit_now(0)
    return 0


def _wait_headless(stop: threading.Event, ending: list[int], hooks: platform.Platform) -> None:
    """Sleep on the main thread until a signal, the session's end or `stop` comes.

    POSIX: a signal may land on any thread, and then never interrupts the main thread's
    wait; with a wake-up fd the C handler writes the signal's number to a socket, whichever
    thread took it, and the byte waits there even if it came before the wait began. The
    main thread reads the numbers itself, so no wake-up is lost. Windows has no such
    signals (Ctrl+C is a console event), so it looks again every second there.
    """
    if os.name != "posix":
        hooks.watch_session(stop.set)
        while not stop.wait(1.0):
            pass
        return
    import select
    import socket

    reader, writer = socket.socketpair()
    reader.setblocking(False)
    writer.setblocking(False)

    def wake() -> None:
        stop.set()
        with contextlib.suppress(OSError):
            writer.send(b"\0")

    previous = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    try:
        hooks.watch_session(wake)
        while not stop.is_set():
            select.select([reader], [], [])
            with contextlib.suppress(BlockingIOError):
                for signum in reader.recv(64):
                    if signum in ENDING_SIGNALS and signum not in ending:
                        ending.append(signum)
                    if signum:
                        stop.set()
    finally:
        signal.set_wakeup_fd(previous)
        reader.close()
        writer.close()


def _exit_now(code: int) -> None:
    """Exit without waiting for worker threads: one may sit in a stalled request for its
    whole read timeout, and the OS gives a shutting-down process only a few seconds."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _tray(config: Config, agent: Agent, stop: threading.Event,
          hooks: platform.Platform) -> tuple[Any, str]:
    """The tray app when this desktop can show one, else None and the reason why not."""
    from seatkeeper.tray.backend import choose

    choice = choose(os.environ)
    if choice.backend is None:
        log.info("no tray: %s", choice.reason)
        return None, f"no tray: {choice.reason}"
    from seatkeeper.tray.app import TrayApp, TrayUnavailable
    from seatkeeper.tray.starting import STATE_FILE

    log.info("tray backend %s: %s", choice.backend, choice.reason)
    try:
        return TrayApp(agent, backend=choice.backend, log_dir=config.paths.log_dir,
                       stop=stop, hooks=hooks,
                       state_file=config.paths.data_dir / STATE_FILE), ""
    except TrayUnavailable as exc:
        log.warning("no tray: %s", exc)
        return None, f"no tray: {exc}"


def _keep_for_next_start(agent: Agent, state_file: Path) -> None:
    """The tray's first icon at the next start: the state this agent will start in."""
    from seatkeeper.tray.starting import for_next_start, write_last

    try:
        write_last(state_file, for_next_start(agent.status()))
    except Exception:  # never in the way of the seat's release and the exit
        log.exception("the tray's state for the next start was not kept")


def _release_before_quit(agent: Agent) -> None:
    """Quit gives the seat back and keeps the login; the outbox delivers it, or the next start.

    A seat borrowed for offline work is kept: the agent started again holds it still."""
    if agent.borrowed_until() is not None:
        log.info("quit: the seat is borrowed until %s and stays borrowed", agent.borrowed_until())
        return
    if agent.status().account is None:
        log.info("quit: not logged in, no seat to give back")
        return
    # As at shutdown: a seat request still in flight (Quit chosen while the agent was
    # starting) is waited for, and the seat it brings back is given back too.
    if agent.release_now("user", QUIT_DELIVERY_S):
        log.info("quit: the seat is released; the login is kept")
    else:
        log.info("quit: the release waits in the outbox for the next start")
