"""The tray before the agent: the icon of the last known state, on screen first.

On Linux the runner shows this icon before it builds the agent (its modules, the token
read, the lease's check, the outbox, the control socket, the jobs): only pystray, its
toolkit, Pillow and the icons are loaded by then, so the icon docks about as fast as a
bare pystray icon. The tray keeps the state it last showed in a small owner-only file
in the agent's data folder (`tray-state.json`); a missing or unreadable file gives the
neutral icon (the grey dots of "asking for a seat"). Until the agent is attached the
menu says "Starting…" and offers Log out… (when the last state was logged in) and Quit:
a Log out… chosen then is carried out, with its confirmation, once the agent is ready.

This module imports nothing of the network, crypto or scheduler stacks, nor the agent's
own service modules (tests/desktop/test_tray_start.py checks it).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seatkeeper.core.seat_state import SeatState
from seatkeeper.i18n import N_, _
from seatkeeper.tray import icons

if TYPE_CHECKING:
    from seatkeeper.core.state import Status
    from seatkeeper.tray.app import TrayApp

log = logging.getLogger("seatkeeper.tray")

ICON_PX = 64
GLIB_BACKENDS = ("gtk", "appindicator")
STATE_FILE = "tray-state.json"
STATE_MAX_BYTES = 4096
# Until the agent is attached: the neutral icon, and these words.
NEUTRAL = SeatState.ACQUIRING
STARTING = N_("Starting…")
STARTING_TOOLTIP = N_("Seatkeeper · starting…")
LOGOUT = N_("Log out…")
QUIT = N_("Quit")


class TrayUnavailable(RuntimeError):
    """pystray or its toolkit cannot start here; the agent goes on headless."""


def load_pystray(backend: str) -> Any:
    """Import pystray with `backend` chosen (it picks one at import and fails without X)."""
    os.environ["PYSTRAY_BACKEND"] = backend
    try:
        if backend in GLIB_BACKENDS:
            import gi

            gi.require_version("GLib", "2.0")
            from gi.repository import GLib

            GLib.set_prgname("seatkeeper")  # the name screen readers and the tray host see
            GLib.set_application_name("Seatkeeper")
        import pystray
    except Exception as exc:  # ImportError, Xlib's errors, a GTK that cannot initialise
        raise TrayUnavailable(f"the {backend} tray backend cannot start: {exc}") from exc
    return pystray


@dataclass(frozen=True)
class LastState:
    """What the tray showed last: its icon (None: not known), and whether logged in."""

    icon: SeatState | None = None
    borrowed: bool = False
    signed_in: bool = False


def read_last(path: Path) -> LastState:
    """The state kept in `path`; anything missing, unreadable or odd gives the neutral one."""
    try:
        with path.open("rb") as handle:
            data = json.loads(handle.read(STATE_MAX_BYTES + 1)[:STATE_MAX_BYTES])
        state = LastState(SeatState(data["icon"]), data.get("borrowed") is True,
                          data.get("signed_in") is True)
    except FileNotFoundError:
        return LastState()
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.info("the tray's last state in %s is not readable (%s); starting from the "
                 "neutral icon", path, exc)
        return LastState()
    return state


def for_next_start(status: Status) -> LastState:
    """What the next start's first icon should be, from the agent's status as it stops: the
    state the agent will start in. A seat given back on the way out (Quit, the session's
    end) is asked for again at once, so a logged-in agent without a held seat starts
    "asking for a seat"; a seat kept (borrowed, or a release that did not happen) is
    shown held; a logout, done or queued, as it is."""
    if status.account is None:
        return LastState(status.state, False, False)
    giving_back = any(item.kind == "release" for item in status.pending)
    if status.state in (SeatState.ACTIVE, SeatState.OFFLINE) and not giving_back:
        return LastState(SeatState.ACTIVE, status.borrowed_until is not None, True)
    return LastState(NEUTRAL, False, True)


def write_last(path: Path, state: LastState) -> None:
    """Keep `state` in `path` (owner-only, replaced atomically); a failure is only logged."""
    from seatkeeper.service.private import write_secret

    text = json.dumps({"icon": state.icon.value if state.icon else None,
                       "borrowed": state.borrowed, "signed_in": state.signed_in})
    try:
        write_secret(path, text)
    except Exception as exc:  # StorageError, a full disk: the next start shows the neutral icon
        log.info("the tray's state could not be kept in %s: %s", path, exc)


class StartingTray:
    """The icon's loop, entered before the agent exists; `attach` hands it to a TrayApp."""

    def __init__(self, backend: str, state_file: Path, stop: threading.Event) -> None:
        self.backend = backend
        self.state_file = state_file
        self.stop_event = stop
        self.quit_requested = False
        self.pystray = load_pystray(backend)
        self.last = read_last(state_file)
        self._lock = threading.Lock()
        self._app: TrayApp | None = None
        self._logout_wanted = False
        self._closed = threading.Event()
        image = icons.render(self.last.icon or NEUTRAL, ICON_PX, borrowed=self.last.borrowed)
        self.icon = self.pystray.Icon("seatkeeper", image, _(STARTING_TOOLTIP), menu=self._menu())

    def _menu(self) -> Any:
        item, menu = self.pystray.MenuItem, self.pystray.Menu
        entries = [item(_(STARTING), None, enabled=False), menu.SEPARATOR]
        if self.last.signed_in:
            entries.append(item(_(LOGOUT), lambda _icon, _item: self._log_out()))
        entries.append(item(_(QUIT), lambda _icon, _item: self._quit()))
        return menu(*entries)

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def run(self, boot: Callable[[], None]) -> None:
        """Show the icon until Quit or `stop` is set (on the main thread); `boot` runs on a
        thread of its own once the icon is up, and attaches the agent's TrayApp."""
        handlers: dict[int, Any] = {sig: signal.getsignal(sig)
                                    for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            self.icon.run(setup=lambda icon: self._ready(handlers, boot))
        except Exception as exc:
            # pystray's GTK clean-up fails when no notification server runs; the loop is over.
            log.warning("the tray's loop ended with an error: %s", exc)
            log.debug("the tray's loop ended with an error", exc_info=True)
        finally:
            with self._lock:
                self._closed.set()
                app = self._app
            if app is not None:
                app.loop_ended()
            log.info("tray icon closed")

    def _ready(self, handlers: dict[int, Any], boot: Callable[[], None]) -> None:
        """In pystray's setup thread once the loop runs: show the icon, then build the agent."""
        self.icon.visible = True
        from gi.repository import GLib

        def on_ui_ready() -> bool:
            # pystray's GTK loop resets SIGINT to its default (kill at once); put ours back.
            for sig, handler in handlers.items():
                if callable(handler):
                    signal.signal(sig, handler)
            log.info("tray icon shown (backend %s), %s while the agent starts", self.backend,
                     f"last state {self.last.icon.value}" if self.last.icon else "no last state")
            return False

        GLib.idle_add(on_ui_ready)
        threading.Thread(target=boot, name="agent-start", daemon=True).start()
        threading.Thread(target=self._wait_for_stop, name="tray-stop", daemon=True).start()

    def _wait_for_stop(self) -> None:
        # Asleep until a signal or the session's end sets it (a daemon thread).
        self.stop_event.wait()
        if not self._closed.is_set():
            self.post(self.icon.stop)

    def post(self, call: Callable[[], object]) -> None:
        from gi.repository import GLib

        def once() -> bool:
            try:
                call()
            except Exception:
                log.exception("a tray update failed")
            return False

        GLib.idle_add(once)

    def attach(self, app: TrayApp) -> bool:
        """Hand the running icon to `app` (from the agent's start thread); False if the
        loop has ended already (Quit, or a signal, came first)."""
        with self._lock:
            if self._closed.is_set():
                return False
            self._app = app
            logout = self._logout_wanted
        app.attach(logout_wanted=logout)
        return True

    # -- the starting menu (on the UI thread) --------------------------------------------

    def _log_out(self) -> None:
        with self._lock:
            app = self._app
            if app is None:
                self._logout_wanted = True
        if app is not None:  # the starting menu was open while the agent was attached
            app.log_out()
        else:
            log.info("menu: logout (carried out once the agent has started)")

    def _quit(self) -> None:
        with self._lock:
            app = self._app
        if app is not None:
            app.quit()
            return
        log.info("menu: quit (while the agent starts)")
        self.quit_requested = True
        self.icon.stop()
