"""`seatkeeper …`: a thin front end over the agent's control interface."""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import json
import sys
import time
from typing import Any

from seatkeeper import __version__, cli_argparse, i18n
from seatkeeper.config import Config, load_config
from seatkeeper.core.errors import SeatkeeperError
from seatkeeper.core.sentences import LOGGED_IN
from seatkeeper.i18n import _
from seatkeeper.phrases import say
from seatkeeper.service.framing import AgentNotRunning, ControlError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
WAIT_FOR_DELIVERY_S = 5.0


def _days(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(_("{text!r} is not a whole number of days").format(
            text=text)) from None
    if not 1 <= value <= 366:
        raise argparse.ArgumentTypeError(_("must be 1 to 366 days"))
    return value


def _parser() -> argparse.ArgumentParser:
    cli_argparse.speak()
    parser = argparse.ArgumentParser(
        prog="seatkeeper", description=_("Keeps your license seat in step with you."))
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}",
                        help=_("show program's version number and exit"))
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = sub.add_parser("run", help=_("run the agent (tray, or headless with no display)"))
    run.add_argument("--headless", action="store_true", help=_("no tray icon"))
    login = sub.add_parser("login", help=_("log this device in (in a web browser, unless --email)"))
    login.add_argument("--server", metavar="URL", help=_("the license server"))
    how = login.add_mutually_exclusive_group()
    how.add_argument("--email", help=_("log in with this account's password instead"))
    how.add_argument("--browser", action="store_true",
                     help=_("log in by approving a code in a web browser (no password here; "
                          "the default)"))
    login.add_argument("--password-stdin", action="store_true",
                       help=_("read the password from standard input"))
    login.add_argument("--no-open", action="store_true",
                       help=_("browser login: print the address, do not open a browser"))
    status = sub.add_parser("status", help=_("seat state, account, lease, queued items"))
    status.add_argument("--json", action="store_true", help=_("stable JSON output"))
    status.add_argument("--watch", action="store_true", help=_("print again on every change"))
    config = sub.add_parser("config", help=_("the agent's settings"))
    config.add_argument("action", choices=("show",),
                        help=_("show: every setting, its value and where it came from"))
    config.add_argument("--json", action="store_true", help=_("stable JSON output"))
    sub.add_parser("logout", help=_("give the seat back and log out (queued when offline)"))
    sub.add_parser("release", help=_("give the seat back, stay logged in"))
    borrow = sub.add_parser("borrow", help=_("borrow the seat for offline work (needs the server)"))
    borrow.add_argument("--days", type=_days, required=True,
                        help=_("how many days (1 to 366; the license may allow fewer)"))
    sub.add_parser("return", help=_("return a borrowed seat early (queued when offline)"))
    acquire = sub.add_parser("acquire",
                             help=_("take a seat again (after release, or to retry now)"))
    acquire.add_argument("--license", metavar="ID", help=_("one of the account's licenses"))
    devices = sub.add_parser("devices", help=_("this account's devices"))
    devices.add_argument("--deactivate", metavar="ID", help=_("deactivate another device"))
    devices.add_argument("--json", action="store_true")
    remote = sub.add_parser("remote-deactivation", help=_("switch remote deactivation on or off"))
    remote.add_argument("switch", choices=("on", "off"))
    autostart = sub.add_parser("autostart", help=_("start the agent at login, or not"))
    autostart.add_argument("switch", choices=("enable", "disable", "status"))
    autostart.add_argument("--json", action="store_true", help=_("stable JSON output"))
    demo = sub.add_parser("demo", help=_("embedded server + demo account + this agent"))
    demo.add_argument("--port", type=int, default=8750, help=_("the demo server's port"))
    demo.add_argument("--headless", action="store_true", help=_("no tray icon"))
    return parser


def main(argv: list[str] | None = None) -> int:
    # The configuration is read before the command line, so that --help and argparse's
    # own errors speak the `language` setting too; a configuration that cannot be read
    # is said once the command line is (in the session's language, then).
    try:
        early: Config | None = load_config()
    except SeatkeeperError:
        early = None
    if early is not None:
        i18n.use(early.language)
    args = _parser().parse_args(argv)
    try:
        config = early if early is not None else load_config()
        if early is None:
            i18n.use(config.language)
        for warning in config.warnings:
            print(_("warning: {warning}").format(warning=say(warning)), file=sys.stderr)
        if args.command == "run":
            from seatkeeper import runner

            return runner.run(config, headless=args.headless)
        if args.command == "demo":
            from seatkeeper.demo import run as run_demo

            return run_demo(config, port=args.port, headless=args.headless)
        return COMMANDS[args.command](config, args)
    except ControlError as exc:
        print(f"seatkeeper: {say(exc.message) if exc.message else exc.code}", file=sys.stderr)
        return EXIT_FAILED
    except SeatkeeperError as exc:
        print(f"seatkeeper: {say(str(exc))}", file=sys.stderr)  # the message and what to do
        return EXIT_FAILED
    except KeyboardInterrupt:
        return EXIT_FAILED


class Front:
    """The running agent over its control socket, or, when none runs, an agent in-process."""

    def __init__(self, config: Config) -> None:
        from seatkeeper.service.control import ControlClient, local_api_address

        self.config = config
        self.remote = ControlClient(local_api_address(config.paths))
        self._local: Any = None

    def call(self, op: str, **args: Any) -> Any:
        try:
            return self.remote.call(op, **args)
        except AgentNotRunning:
            return self.local.handle(op, args)

    @property
    def local(self) -> Any:
        if self._local is None:
            from seatkeeper.runner import Controls
            from seatkeeper.service.daemon import Agent

            self._local = Controls(Agent(self.config))
        return self._local

    @property
    def running(self) -> bool:
        try:
            self.remote.call("ping")
            return True
        except AgentNotRunning:
            return False


def _status(config: Config, args: argparse.Namespace) -> int:
    front = Front(config)
    if args.watch:
        try:
            for status in front.remote.watch():
                _print_status(status, args.json)
        except AgentNotRunning:
            print("seatkeeper: " + _("no agent is running; start it with `seatkeeper run`"),
                  file=sys.stderr)
            return EXIT_FAILED
        return EXIT_OK
    status = front.call("status")
    status["running"] = front._local is None
    status["local_api"] = front.remote.address
    _print_status(status, args.json)
    return EXIT_OK


def _print_status(status: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(status, sort_keys=True), flush=True)
        return
    from seatkeeper.cli_messages import status_text

    print(status_text(status, dt.datetime.now(dt.UTC)), flush=True)


def _config(config: Config, args: argparse.Namespace) -> int:
    from seatkeeper.cli_messages import config_json, config_text

    if args.json:
        print(json.dumps(config_json(config), sort_keys=True))
    else:
        print(config_text(config))
    return EXIT_OK


def _login(config: Config, args: argparse.Namespace) -> int:
    if args.email is None:
        if args.password_stdin:
            print("seatkeeper: " + _("--password-stdin goes with --email; without it the login "
                                     "happens in a web browser"), file=sys.stderr)
            return EXIT_USAGE
        return _login_browser(config, args)
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif sys.stdin.isatty():
        password = getpass.getpass(_("Password for {email}: ").format(email=args.email))
    else:
        print("seatkeeper: " + _("give --password-stdin to read the password from a pipe"),
              file=sys.stderr)
        return EXIT_USAGE
    if not password:
        print("seatkeeper: " + _("the password is empty"), file=sys.stderr)
        return EXIT_USAGE
    front = Front(config)
    status = front.call("login", email=args.email, password=password, server_url=args.server)
    print(_(LOGGED_IN).format(account=status["account"], server=status["server"]))
    if front._local is not None:
        print(_("The agent is not running: start it with `seatkeeper run` to take a seat."))
    return EXIT_OK


def _login_browser(config: Config, args: argparse.Namespace) -> int:
    from seatkeeper.service import device_login

    front = Front(config)
    grant = front.call("device_login_start", server_url=args.server)
    print(_("To log in, open {address} and enter the code {code}\n(or open {link})").format(
        address=grant["verification_uri"], code=grant["user_code"],
        link=grant["verification_uri_complete"]), flush=True)
    if not args.no_open:
        import webbrowser

        webbrowser.open(grant["verification_uri_complete"])
    print(_("Waiting for the login to be approved in the browser…"), flush=True)
    answer = device_login.follow(grant, lambda: front.call(
        "device_login_poll", server_url=grant["server_url"], device_code=grant["device_code"]))
    if answer["result"] != "approved":
        print(f"seatkeeper: {say(answer['message'])}", file=sys.stderr)
        return EXIT_FAILED
    print(say(answer["message"]), flush=True)
    if front._local is not None:
        print(_("The agent is not running: start it with `seatkeeper run` to take a seat."))
    return EXIT_OK


def _logout(config: Config, args: argparse.Namespace) -> int:
    front = Front(config)
    status = front.call("logout")
    if front._local is not None and status["state"] == "logout_pending":
        status = front.call("deliver")  # no agent runs to deliver it: try at once
    deadline = time.monotonic() + WAIT_FOR_DELIVERY_S
    while status["state"] == "logout_pending" and time.monotonic() < deadline:
        time.sleep(0.2)
        status = front.call("deliver") if front._local is not None else front.call("status")
    if status["state"] == "logout_pending":
        print(_("Logout queued: the license server cannot be reached now. It is delivered as "
                "soon as it can be, even after a restart; this device no longer uses the "
                "seat."))
    else:
        print(_("Logged out. Your seat is free for another device."))
    return EXIT_OK


def _release(config: Config, args: argparse.Namespace) -> int:
    front = Front(config)
    status = front.call("release")
    if front._local is not None and status["pending"]:
        status = front.call("deliver")  # no agent runs to deliver it: try at once
    queued = any(item["kind"] == "release" for item in status.get("pending") or ())
    print(_("Seat released; you stay logged in. (Queued until the server answers.)") if queued
          else _("Seat released; you stay logged in."))
    return EXIT_OK


def _borrow(config: Config, args: argparse.Namespace) -> int:
    front = Front(config)
    if not front.running:
        print("seatkeeper: " + _("the agent is not running; start it with `seatkeeper run`, "
                                 "wait for the seat, then borrow it"), file=sys.stderr)
        return EXIT_FAILED
    status = front.call("borrow", days=args.days)
    limit = (status.get("license") or {}).get("max_borrow_s") or 0
    capped = " " + _("(the license allows {days} days at most)").format(
        days=f"{limit / 86400:g}") if 0 < limit < args.days * 86400 else ""
    from seatkeeper.core.state import Status
    from seatkeeper.tray.view import local_day_time

    until = Status.from_json(status).borrowed_until
    shown = local_day_time(until, None) if until else _("(not known)")
    print(_("Seat borrowed for offline use until {time}{capped}: it stays held without the "
            "license server, across restarts, until then (or `seatkeeper return`).").format(
                time=shown, capped=capped))
    return EXIT_OK


def _return(config: Config, args: argparse.Namespace) -> int:
    front = Front(config)
    status = front.call("return")
    if front._local is not None and status["pending"]:
        status = front.call("deliver")  # no agent runs to deliver it: try at once
    queued = any(item["kind"] == "release" for item in status.get("pending") or ())
    print(_("Borrowed seat returned: queued until the license server answers, even across "
            "restarts.") if queued
          else _("Borrowed seat returned; it is free for another device."))
    return EXIT_OK


def _acquire(config: Config, args: argparse.Namespace) -> int:
    front = Front(config)
    if not front.running:
        print("seatkeeper: " + _("the agent is not running; `seatkeeper run` takes a seat"),
              file=sys.stderr)
        return EXIT_FAILED
    front.call("acquire", license_id=args.license)
    print(_("Asking for a seat; see `seatkeeper status`."))
    return EXIT_OK


def _devices(config: Config, args: argparse.Namespace) -> int:
    front = Front(config)
    if args.deactivate:
        device = front.call("deactivate", device_id=args.deactivate)
        print(_("Deactivated {device}: its seat is free and it is signed out.").format(
            device=device["name"]))
        return EXIT_OK
    devices = front.call("devices")
    if args.json:
        print(json.dumps({"devices": devices}, sort_keys=True))
        return EXIT_OK
    for device in devices:
        mark = "*" if device["current"] else " "
        seat = _("holds a seat") if device["seat"] else _("no seat")
        print(f"{mark} {device['id']}  {device['name']:<24} {device['platform']:<8} {seat}")
    return EXIT_OK


def _remote(config: Config, args: argparse.Namespace) -> int:
    enabled = Front(config).call("remote_deactivation", enabled=args.switch == "on")
    print(_("Remote device deactivation is on.") if enabled
          else _("Remote device deactivation is off."))
    return EXIT_OK


def _autostart(config: Config, args: argparse.Namespace) -> int:
    from seatkeeper.service import autostart

    if args.switch == "enable":
        result = autostart.enable()
    elif args.switch == "disable":
        result = autostart.disable()
    else:
        result = autostart.status()
    if args.json:
        print(json.dumps(result.to_json(), sort_keys=True))
    elif not result.available:
        print(_("Start at login is not available on this system ({platform}).").format(
            platform=result.platform))
    elif result.managed:
        print(_("Start at login is on for every user of this computer, set by the "
                "administrator ({location}).").format(location=result.location))
    else:
        print((_("Start at login is on ({location}).") if result.enabled
               else _("Start at login is off ({location}).")).format(location=result.location))
    return EXIT_OK if result.available or args.switch != "enable" else EXIT_FAILED


COMMANDS = {"status": _status, "config": _config, "login": _login, "logout": _logout,
            "release": _release, "borrow": _borrow, "return": _return, "acquire": _acquire,
            "devices": _devices, "remote-deactivation": _remote, "autostart": _autostart}
