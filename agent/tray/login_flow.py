"""The tray's way in: connecting to a license server where none is set, then the browser login.

Connect to a license server… asks for the address in the desktop's own dialog (the
address is checked and saved by `seatkeeper.service.first_run`), then starts the
browser login against it. Log in… opens the portal's approve page, shows the code in
the menu and a notification (with a Copy code button where the desktop has them), and
polls on a worker thread until the login is approved, denied or cancelled.
"""

from __future__ import annotations

import logging
import threading
import webbrowser
from typing import TYPE_CHECKING, Any

from seatkeeper.core.errors import SeatkeeperError
from seatkeeper.i18n import N_
from seatkeeper.phrases import say
from seatkeeper.service import device_login, first_run
from seatkeeper.service.first_run import ServerSetting
from seatkeeper.tray import address, clipboard, messages

if TYPE_CHECKING:
    from seatkeeper.tray.app import TrayApp

log = logging.getLogger("seatkeeper.tray")


class LoginFlow:
    """The browser login under way (at most one), and the steps that lead to it."""

    def __init__(self, app: TrayApp) -> None:
        self.app = app
        self.dialog = address.for_backend(app.backend)
        self._lock = threading.Lock()
        self._grant: dict[str, Any] | None = None

    @property
    def code(self) -> str | None:
        """The code to approve while a browser login is under way."""
        with self._lock:
            return self._grant["user_code"] if self._grant else None

    def server(self) -> ServerSetting:
        return first_run.server_setting(self.app.agent.config)

    def cancel(self) -> None:
        with self._lock:
            self._grant = None
        self.app.render()

    def copy_code(self) -> None:
        code = self.code
        if code is not None:
            clipboard.copy(code, self.app.backend)

    def open_page(self) -> None:
        with self._lock:
            grant = self._grant
        if grant is not None:
            webbrowser.open(grant["verification_uri_complete"])

    # -- Connect to a license server… (on the UI thread) ----------------------------------

    def connect(self) -> None:
        """Ask for the server's address; once it is checked and saved, log in there."""
        agent = self.app.agent

        def check(typed: str) -> address.Verdict:
            try:
                return address.Verdict(address=first_run.check(agent.config, typed))
            except SeatkeeperError as exc:
                log.info("license server address refused: %s", exc.message)
                return address.Verdict(problem=say(str(exc)))

        def keep(url: str) -> str | None:
            try:
                first_run.keep(agent, url)
            except SeatkeeperError as exc:
                log.warning("could not save the license server: %s", exc)
                return say(str(exc))
            return None

        url = self.dialog.ask(messages.connect_prompt(self.server()), check, keep,
                              lambda: self.app.stop_event.is_set() or self.app.closed)
        if url is None:
            log.info("connecting to a license server cancelled")
            return
        log.info("license server set to %s", url)
        self.app.render()
        self.log_in(url)

    # -- Log in… ------------------------------------------------------------------------

    def log_in(self, server_url: str | None = None) -> None:
        """Log in through the browser; while one is under way, show its page again."""
        with self._lock:
            grant = self._grant
        if grant is not None:
            webbrowser.open(grant["verification_uri_complete"])
            return
        threading.Thread(target=self._browser_login, args=(server_url,),
                         name="tray-browser-login", daemon=True).start()

    def _browser_login(self, server_url: str | None) -> None:
        """Open the approve page, show the code in the menu and a notice, poll till answered."""
        app, agent = self.app, self.app.agent
        try:
            grant = device_login.start(agent, server_url)
        except SeatkeeperError as exc:
            app.tell_failure(N_("start the login"), getattr(exc, "message", None) or str(exc))
            return
        with self._lock:
            self._grant = grant
        app.post(app.render)
        webbrowser.open(grant["verification_uri_complete"])
        app.post(lambda: app.notify(
            messages.login_notice(grant["user_code"], grant["verification_uri"]),
            {messages.COPY_CODE: self.copy_code, messages.OPEN_PAGE: self.open_page}))
        try:
            answer = device_login.follow(
                grant, lambda: device_login.poll(agent, grant["server_url"],
                                                 grant["device_code"]),
                stopped=lambda: app.closed or self._grant is not grant)
        except SeatkeeperError as exc:
            answer = {"result": "failed", "message": getattr(exc, "message", None) or str(exc)}
        with self._lock:
            if self._grant is grant:
                self._grant = None
        app.refresh()
        app.post(app.render)
        if answer["result"] not in ("approved", "cancelled"):
            app.tell_failure(N_("log in"), answer["message"])
