"""The tray icon: the one module that touches pystray; it draws the view and calls the agent.

The icon's loop owns the main thread. The agent tells of changes from its worker
threads; they reach the UI thread the way the backend needs (GLib.idle_add for GTK
and AppIndicator, the main run loop on macOS, a lock on Windows, whose
Shell_NotifyIcon may be called from any thread). Menu choices run on the UI thread:
dialogs there, control calls that may wait for the network on a worker thread.
"""

from __future__ import annotations

import datetime as dt
import logging
import signal
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seatkeeper.core.errors import SeatkeeperError
from seatkeeper.core.protocol import Account, Device
from seatkeeper.core.state import Status
from seatkeeper.i18n import N_, _
from seatkeeper.platform.base import Platform
from seatkeeper.service import autostart
from seatkeeper.tray import dialogs, icons, messages
from seatkeeper.tray.login_flow import LoginFlow
from seatkeeper.tray.notify_actions import ActionNotifier
from seatkeeper.tray.starting import LastState, TrayUnavailable, load_pystray, write_last
from seatkeeper.tray.view import Act, Action, Entry, TrayView, view

if TYPE_CHECKING:
    from seatkeeper.service.daemon import Agent

log = logging.getLogger("seatkeeper.tray")

ICON_PX = 64
# The account and its devices are fetched on every state change, and at least this often.
REFRESH_S = 300.0
# A time-based notice (offline for longer than a heartbeat) is looked at this long after
# it falls due, so that it is due by then.
DUE_MARGIN_S = 0.05
GLIB_BACKENDS = ("gtk", "appindicator")
__all__ = ["TrayApp", "TrayUnavailable"]


def _load_pystray(backend: str) -> Any:
    """Import pystray with `backend` chosen (replaced in tests)."""
    return load_pystray(backend)


class TrayApp:
    """The icon, its menu and its notifications over one agent; `run()` on the main thread."""

    def __init__(self, agent: Agent, *, backend: str, log_dir: Path,
                 stop: threading.Event, hooks: Platform | None = None, icon: Any = None,
                 state_file: Path | None = None) -> None:
        """`icon`: the starting tray's icon, whose loop runs already (see `attach`);
        `state_file`: where the state shown is kept for the next start's first icon."""
        self.agent = agent
        self.backend = backend
        self.log_dir = log_dir
        self.stop_event = stop
        self.quit_requested = False
        self.dialogs = dialogs.for_backend(backend)
        self.pystray = _load_pystray(backend)
        self._lock = threading.Lock()
        self._ui_lock = threading.RLock()
        self._status = agent.status()
        self._account: Account | None = None
        self._devices: tuple[Device, ...] | None = None
        self.login = LoginFlow(self)
        # Notifications with buttons, where the desktop has them (freedesktop's, on Linux).
        self._buttons = ActionNotifier() if backend in GLIB_BACKENDS else None
        self._memory = messages.Memory()
        self._shown: TrayView | None = None
        self._refresh = threading.Event()
        self._closed = threading.Event()
        self._autostart, self._autostart_managed = autostart.ticked()
        self._state_file = state_file
        self._kept: LastState | None = None
        self._unsubscribe: Callable[[], None] | None = None
        if icon is not None:
            self.icon = icon  # redrawn with the agent's state once attached
            return
        shown = view(self._status, autostart=self._autostart,
                     autostart_managed=self._autostart_managed,
                     server=self.login.server().choice)
        image = icons.render(shown.icon, ICON_PX, borrowed=shown.borrowed)
        self.icon = self.pystray.Icon("seatkeeper", image, shown.tooltip,
                                      menu=self._menu(shown.menu))
        if hooks is not None and backend == "win32":
            self._answer_window_messages(hooks)

    def _answer_window_messages(self, hooks: Platform) -> None:
        """Windows: the end of the session and resume, on pystray's hidden window (whose
        unknown messages get 0, and 0 to WM_QUERYENDSESSION vetoes a shutdown)."""
        def exit_now() -> None:
            self.stop_event.set()

        handlers = hooks.window_messages(lambda: int(getattr(self.icon, "_hwnd", 0) or 0),
                                         exit_now)
        self.icon._message_handlers.update(handlers)

    # -- running ------------------------------------------------------------------------

    def run(self) -> None:
        """Show the icon until Quit or `stop` is set; returns on the main thread."""
        handlers: dict[int, Any] = {sig: signal.getsignal(sig)
                                    for sig in (signal.SIGINT, signal.SIGTERM)}
        self._unsubscribe = self.agent.subscribe(self._changed)
        try:
            self.icon.run(setup=lambda icon: self._ready(handlers))
        except Exception as exc:
            # pystray's GTK clean-up fails when no notification server runs; the loop is over.
            log.warning("the tray's loop ended with an error: %s", exc)
            log.debug("the tray's loop ended with an error", exc_info=True)
        finally:
            self.loop_ended()
            log.info("tray icon closed")

    def attach(self, *, logout_wanted: bool = False) -> None:
        """Take over the starting tray's icon, whose loop runs already (from any thread);
        `logout_wanted`: Log out… was chosen from the starting menu, and is carried out now
        (with its confirmation)."""
        self._unsubscribe = self.agent.subscribe(self._changed)
        self._refresh.set()  # the agent may have changed state before we subscribed
        self.post(lambda: self._on_ui_ready({}))
        if logout_wanted:
            self.post(self.log_out)
        # (the starting tray watches `stop` already)
        threading.Thread(target=self._watch, name="tray-watch", daemon=True).start()

    def loop_ended(self) -> None:
        """The icon's loop is over: the helpers stop, the agent's news no longer come."""
        self._closed.set()
        self._refresh.set()
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def _ready(self, handlers: dict[int, Any]) -> None:
        """In pystray's setup thread once the loop runs: show the icon, start the helpers."""
        self.icon.visible = True
        self._refresh.set()  # the agent may have changed state before we subscribed
        self.post(lambda: self._on_ui_ready(handlers))
        threading.Thread(target=self._watch, name="tray-watch", daemon=True).start()
        threading.Thread(target=self._wait_for_stop, name="tray-stop", daemon=True).start()

    def _on_ui_ready(self, handlers: dict[int, Any]) -> None:
        # pystray's GTK loop resets SIGINT to its default (kill at once); put ours back.
        # Only the main thread may: win32's post() runs this on pystray's setup thread,
        # and its loop leaves our handlers alone.
        if threading.current_thread() is threading.main_thread():
            for sig, handler in handlers.items():
                if callable(handler):
                    signal.signal(sig, handler)
        self._shown = None
        self.render()
        log.info("tray icon shown (backend %s)%s", self.backend,
                 " with the agent attached" if not handlers else "")

    def _wait_for_stop(self) -> None:
        # Asleep until a signal or the session's end sets it (a daemon thread: a tray closed
        # by Quit leaves it waiting, which costs nothing).
        self.stop_event.wait()
        if not self._closed.is_set():
            self.post(self.icon.stop)

    def post(self, call: Callable[[], object]) -> None:
        """Run `call` on the UI thread, soon (from any thread)."""
        def guarded() -> bool:
            try:
                call()
            except Exception:
                log.exception("a tray update failed")
            return False  # GLib: run once

        if self.backend in GLIB_BACKENDS:
            from gi.repository import GLib

            GLib.idle_add(guarded)
        elif self.backend == "darwin":
            from PyObjCTools import AppHelper

            AppHelper.callAfter(guarded)
        else:
            with self._ui_lock:
                guarded()

    # -- what the agent says ------------------------------------------------------------

    def _changed(self, status: Status) -> None:
        """The agent's state changed (on one of its worker threads)."""
        self._observe(status)
        self._refresh.set()

    def _observe(self, status: Status) -> None:
        now = dt.datetime.now(dt.UTC)
        with self._lock:
            self._status = status
            self._memory, notices = messages.follow(self._memory, status, now)
        self.post(self.render)
        for notice in notices:
            log.info("notice: %s: %s", notice.title, notice.text)
            self.post(self._notifier(notice))

    def _notifier(self, notice: messages.Notice) -> Callable[[], None]:
        return lambda: self.notify(notice)

    def notify(self, notice: messages.Notice,
               handlers: Mapping[str, Callable[[], None]] | None = None) -> None:
        """Show a notification (on the UI thread): with its buttons where the desktop has
        them, else as pystray's plain notice."""
        if notice.actions and self._buttons is not None and self._buttons.notify(
                notice.title, notice.text, notice.actions, handlers or {}):
            return
        self.icon.notify(notice.text, notice.title)

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def refresh(self) -> None:
        """Have the account, the devices and the status fetched again soon."""
        self._refresh.set()

    def _watch(self) -> None:
        """Fetch the account and devices when asked (and now and then); tell the time-based
        notices when they fall due. Asleep in between: no tick."""
        fetched_at = float("-inf")
        while not self._closed.is_set():
            wait_s = REFRESH_S - (time.monotonic() - fetched_at)
            due = self._due_in()
            if due is not None:
                wait_s = min(wait_s, due + DUE_MARGIN_S)
            wanted = self._refresh.wait(max(0.0, wait_s))
            if self._closed.is_set():
                return
            if wanted or time.monotonic() - fetched_at > REFRESH_S:
                self._refresh.clear()
                fetched_at = time.monotonic()
                self._fetch_account()
            self._observe(self.agent.status())

    def _due_in(self) -> float | None:
        with self._lock:
            return messages.next_due(self._memory, self._status, dt.datetime.now(dt.UTC))

    def _fetch_account(self) -> None:
        status = self.agent.status()
        if status.account is None:
            account, devices = None, None
        else:
            try:
                account = Account.from_json(self.agent.account())
                devices = tuple(Device.from_json(d) for d in self.agent.devices())
            except SeatkeeperError as exc:
                log.info("account and devices not fetched: %s", exc)
                return
            log.info("account fetched: %d licenses, %d devices", len(account.licenses),
                     len(devices))
        with self._lock:
            self._account, self._devices = account, devices
        self.post(self.render)

    # -- drawing ------------------------------------------------------------------------

    def render(self) -> None:
        """Draw the current view, changing only what changed (on the UI thread)."""
        code, server = self.login.code, self.login.server().choice
        with self._lock:
            shown = view(self._status, login_code=code,
                         account=self._account, devices=self._devices,
                         autostart=self._autostart,
                         autostart_managed=self._autostart_managed, server=server)
            signed_in = self._status.account is not None
        before, self._shown = self._shown, shown
        if shown == before:
            return
        if before is None or (shown.icon, shown.borrowed) != (before.icon, before.borrowed):
            self.icon.icon = icons.render(shown.icon, ICON_PX, borrowed=shown.borrowed)
            log.info("tray shows %s%s", shown.icon.value, " (borrowed)" * shown.borrowed)
        self._keep(LastState(shown.icon, shown.borrowed, signed_in))
        if before is None or shown.tooltip != before.tooltip:
            self.icon.title = shown.tooltip
            status_icon = getattr(self.icon, "_status_icon", None)  # GTK: title is no tooltip
            if status_icon is not None:
                status_icon.set_tooltip_text(shown.tooltip)
        if before is None or shown.menu != before.menu:
            self.icon.menu = self.pystray.Menu(*self._menu(shown.menu))

    def _keep(self, state: LastState) -> None:
        """Keep what is shown for the next start's first icon, when it changed."""
        if self._state_file is not None and state != self._kept:
            self._kept = state
            write_last(self._state_file, state)

    def _menu(self, entries: tuple[Entry, ...]) -> list[Any]:
        items: list[Any] = []
        for entry in entries:
            label = self._label(entry.label)
            if entry.separator:
                items.append(self.pystray.Menu.SEPARATOR)
            elif entry.children:
                items.append(self.pystray.MenuItem(
                    label, self.pystray.Menu(*self._menu(entry.children)),
                    enabled=entry.enabled))
            else:
                checked = None if entry.checked is None else (
                    lambda _item, value=entry.checked: value)
                items.append(self.pystray.MenuItem(
                    label, self._handler(entry.action), checked=checked,
                    enabled=entry.enabled))
        return items

    def _label(self, text: str) -> str:
        """Windows menus take `&` as the next letter's access key ("Support & Upgrade",
        "S&U"): double it there so it shows as itself."""
        return text.replace("&", "&&") if self.backend == "win32" else text

    def _handler(self, action: Action | None) -> Callable[[Any, Any], None] | None:
        if action is None:
            return None

        def chosen(_icon: Any, _item: Any) -> None:
            try:
                self.choose(action)
            except Exception:
                log.exception("the menu choice %s failed", action.act.value)
        return chosen

    # -- what the user chooses ----------------------------------------------------------

    def choose(self, action: Action) -> None:
        """Carry out a menu choice (on the UI thread)."""
        log.info("menu: %s%s", action.act.value, f" {action.arg}" if action.arg else "")
        with self._lock:
            status, devices = self._status, self._devices or ()
        act, agent = action.act, self.agent
        if act is Act.LOGIN:
            self.login.log_in()
        elif act is Act.CONNECT:
            self.login.connect()
        elif act is Act.COPY_CODE:
            self.login.copy_code()
        elif act is Act.CANCEL_LOGIN:
            self.login.cancel()
        elif act is Act.LOGOUT:
            self.log_out(status)
        elif act is Act.RELEASE:
            self._call(N_("release the seat"), agent.release)
        elif act is Act.BORROW:
            self._call(N_("borrow the seat"), lambda: agent.borrow(int(action.arg or 1)))
        elif act is Act.RETURN:
            self._call(N_("return the borrowed seat"), agent.return_seat)
        elif act is Act.ACQUIRE:
            self._call(N_("ask for a seat"), agent.acquire)
        elif act is Act.USE_LICENSE:
            self._call(N_("use that license"), lambda: agent.acquire(action.arg))
        elif act is Act.DISCOVERY:
            self._call(N_("continue in Discovery mode"), agent.continue_in_discovery)
        elif act is Act.DEACTIVATE:
            device = next((d for d in devices if d.id == action.arg), None)
            if device is not None and self.dialogs.ask(messages.deactivate_prompt(device)):
                self._call(_("deactivate {device}").format(device=device.name),
                           lambda: agent.deactivate(device.id))
        elif act is Act.REMOTE_DEACTIVATION:
            self._call(N_("switch remote device deactivation"),
                       lambda: agent.set_remote_deactivation(action.arg == "on"))
        elif act is Act.START_AT_LOGIN:
            self._toggle_autostart()
        elif act is Act.OPEN_LOGS:
            dialogs.open_folder(self.log_dir)
        elif act is Act.ABOUT:
            self.dialogs.tell(messages.about_prompt(status, dialogs.versions(self.backend)))
        elif act is Act.QUIT:
            self.quit()

    def log_out(self, status: Status | None = None) -> None:
        """Log out…: ask first, then log out (on the UI thread)."""
        if status is None:
            with self._lock:
                status = self._status
        if status.account is None:
            log.info("log out: not logged in")
        elif self.dialogs.ask(messages.logout_prompt(status)):
            self._call(N_("log out"), self.agent.logout)
        else:
            log.info("log out cancelled")

    def quit(self) -> None:
        self.quit_requested = True
        self.icon.stop()

    def _toggle_autostart(self) -> None:
        """Start at login, the other way round; what is on disk decides the tick."""
        try:
            state = autostart.toggle()
        except (OSError, SeatkeeperError) as exc:
            log.warning("could not change start at login: %s", exc)
        else:
            log.info("start at login is %s (%s)", "on" if state.enabled else "off",
                     state.location)
        with self._lock:
            self._autostart, self._autostart_managed = autostart.ticked()
        self.render()

    def _call(self, what: str, call: Callable[[], object]) -> None:
        """A control call on a worker thread; a refusal is shown in a dialog."""
        def work() -> None:
            try:
                call()
            except SeatkeeperError as exc:
                log.warning("could not %s: %s", what, exc)
                reason = getattr(exc, "message", None) or str(exc)
                prompt = messages.failure_prompt(what, reason)
                if self.backend in GLIB_BACKENDS or self.backend == "darwin":
                    self.post(lambda: self.dialogs.tell(prompt))
                else:  # MessageBoxW may block this worker thread, not the icon's updates
                    self.dialogs.tell(prompt)
            except Exception:
                log.exception("could not %s", what)
            finally:
                self._refresh.set()

        threading.Thread(target=work, name=f"tray-{what}", daemon=True).start()

    def tell_failure(self, what: str, reason: str) -> None:
        """Say in a dialog (on the UI thread, soon) that something could not be done."""
        log.warning("could not %s: %s", what, reason)
        self.post(lambda: self.dialogs.tell(messages.failure_prompt(what, reason)))
