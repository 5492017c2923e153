"""`seatkeeper …`: a thin front end over the agent's control interface."""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import json
import sys
import time
from typing import Any

from seatkeeper import __version__
from seatkeeper.config import Config, load_config
from seatkeeper.core.errors import SeatkeeperError
from seatkeeper.service.framing import AgentNotRunning, ControlError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
WAIT_FOR_DELIVERY_S = 5.0


def _days(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of days") from None
    if not 1 <= value <= 366:
        raise argparse.ArgumentTypeError("must be 1 to 366 days")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="seatkeeper", description="Keeps your license seat in step with you.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = sub.add_parser("run", help="run the agent (tray, or headless with no display)")
    run.add_argument("--headless", action="store_true", help="no tray icon")
    login = sub.add_parser("login", help="log this device in (in a web browser, unless --email)")
    login.add_argument("--server", metavar="URL", help="the license server")
    how = login.add_mutually_exclusive_group()
    how.add_argument("--email", help="log in with this account's password instead")
    how.add_argument("--browser", action="store_true",
                     help="log in by approving a code in a web browser (no password here; "
                          "the default)")
    login.add_argument("--password-stdin", action="store_true",
                       help="read the password from standard input")
    login.add_argument("--no-open", action="store_true",
                       help="browser login: print the address, do not open a browser")
    status = sub.add_parser("status", help="seat state, account, lease, queued items")
    status.add_argument("--json", action="store_true", help="stable JSON output")
    status.add_argument("--watch", action="store_true", help="print again on every change")
    config = sub.add_parser("config", help="the agent's settings")
    config.add_argument("action", choices=("show",),
                        help="show: every setting, its value and where it came from")
    config.add_argument("--json", action="store_true", help="stable JSON output")
    sub.add_parser("logout", help="give the seat back and log out (queued when offline)")
    sub.add_parser("release", help="give the seat back, stay logged in")
    borrow = sub.add_parser("borrow", help="borrow the seat for offline work (needs the server)")
    borrow.add_argument("--days", type=_days, required=True,
                        help="how many days (1 to 366; the license may allow fewer)")
    sub.add_parser("return", help="return a borrowed seat early (queued when offline)")
    acquire = sub.add_parser("acquire", help="take a seat again (after release, or to retry now)")
    acquire.add_argument("--license", metavar="ID", help="one of the account's licenses")
    devices = sub.add_parser("devices", help="this account's devices")
    devices.add_argument("--deactivate", metavar="ID", help="deactivate another device")
    devices.add_argument("--json", action="store_true")
    remote = sub.add_parser("remote-deactivation", help="switch remote deactivation on or off")
    remote.add_argument("switch", choices=("on", "off"))
    autostart = sub.add_parser("autostart", help="start the agent at login, or not")
    autostart.add_argument("switch", choices=("enable", "disable", "status"))
    autostart.add_argument("--json", action="store_true", help="stable JSON output")
    demo = sub.add_parser("demo", help="embedded server + demo account + this agent")
    demo.add_argument("--port", type=int, default=8750, help="the demo server's port")
    demo.add_argument("--headless", action="store_true", help="no tray icon")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        config = load_config()
        for warning in config.warnings:
            print(f"warning: {warning}", file=sys.stderr)
        if args.command == "run":
            from seatkeeper import runner

            return runner.run(config, headless=args.headless)
        if args.command == "demo":
            from seatkeeper.demo import run as run_demo

            return run_demo(config, port=args.port, headless=args.headless)
        return COMMANDS[args.command](config, args)
    except ControlError as exc:
        print(f"seatkeeper: {exc.message or exc.code}", file=sys.stderr)
        return EXIT_FAILED
    except SeatkeeperError as exc:
        print(f"seatkeeper: {exc}", file=sys.stderr)  # the message and what to do about it
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
            print("seatkeeper: no agent is running; start it with `seatkeeper run`",
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
            print("seatkeeper: --password-stdin goes with --email; without it the login "
                  "happens in a web browser", file=sys.stderr)
            return EXIT_USAGE
        return _login_browser(config, args)
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif sys.stdin.isatty():
        password = getpass.getpass(f"Password for {args.email}: ")
    else:
        print("seatkeeper: give --password-stdin to read the password from a pipe",
              file=sys.stderr)
        return EXIT_USAGE
    if not password:
        print("seatkeeper: the password is empty", file=sys.stderr)
        return EXIT_USAGE
    front = Front(config)
    status = front.call("login", email=args.email, password=password, server_url=args.server)
    print(f"Logged in as {status['account']} on {status['server']}.")
    if front._local is not None:
        print("The agent is not running: start it with `seatkeeper run` to take a seat.")
    return EXIT_OK


def _login_browser(config: Config, args: argparse.Namespace) -> int:
    from seatkeeper.service import device_login

    front = Front(config)
    grant = front.call("device_login_start", server_url=args.server)
    print(f"To log in, open {grant['verification_uri']} and enter the code "
          f"{grant['user_code']}\n(or open {grant['verification_uri_complete']})", flush=True)
    if not args.no_open:
        import webbrowser

        webbrowser.open(grant["verification_uri_complete"])
    print("Waiting for the login to be approved in the browser…", flush=True)
    answer = device_login.follow(grant, lambda: front.call(
        "device_login_poll", server_url=grant["server_url"], device_code=grant["device_code"]))
    if answer["result"] != "approved":
        print(f"seatkeeper: {answer['message']}", file=sys.stderr)
        return EXIT_FAILED
    print(answer["message"], flush=True)
    if front._local is not None:
        print("The agent is not running: start it with `seatkeeper run` to take a seat.")
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
        print("Logout queued: the license server cannot be reached now. It is delivered as "
              "soon as it can be, even after a restart; this device no longer uses the seat.")
    else:
        print("Logged out. Your seat is free for another device.")
    return EXIT_OK


def _release(config: Config, args: argparse.Namespace) -> int:
    front = Front(config)
    status = front.call("release")
    if front._local is not None and status["pending"]:
        status = front.call("deliver")  # no agent runs to deliver it: try at once
    queued = any(item["kind"] == "release" for item in status.get("pending") or ())
    print("Seat released; you stay logged in." + (" (Queued until the server answers.)"
                                                   if queued else ""))
    return EXIT_OK


def _borrow(config: Config, args: argparse.Namespace) -> int:
    front = Front(config)
    if not front.running:
        print("seatkeeper: the agent is not running; start it with `seatkeeper run`, wait "
              "for the seat, then borrow it", file=sys.stderr)
        return EXIT_FAILED
    status = front.call("borrow", days=args.days)
    limit = (status.get("license") or {}).get("max_borrow_s") or 0
    capped = f" (the license allows {limit / 86400:g} days at most)" \
        if 0 < limit < args.days * 86400 else ""
    from seatkeeper.core.state import Status
    from seatkeeper.tray.view import local_day_time

    until = Status.from_json(status).borrowed_until
    shown = local_day_time(until, None) if until else "(not known)"
    print(f"Seat borrowed for offline use until {shown}{capped}: it "
          "stays held without the license server, across restarts, until then (or "
          "`seatkeeper return`).")
    return EXIT_OK


def _return(config: Config, args: argparse.Namespace) -> int:
    front = Front(config)
    status = front.call("return")
    if front._local is not None and status["pending"]:
        status = front.call("deliver")  # no agent runs to deliver it: try at once
    queued = any(item["kind"] == "release" for item in status.get("pending") or ())
    print("Borrowed seat returned" + (": queued until the license server answers, even "
                                      "across restarts." if queued else "; it is free for "
                                      "another device."))
    return EXIT_OK


def _acquire(config: Config, args: argparse.Namespace) -> int:
    front = Front(config)
    if not front.running:
        print("seatkeeper: the agent is not running; `seatkeeper run` takes a seat",
              file=sys.stderr)
        return EXIT_FAILED
    front.call("acquire", license_id=args.license)
    print("Asking for a seat; see `seatkeeper status`.")
    return EXIT_OK


def _devices(config: Config, args: argparse.Namespace) -> int:
    front = Front(config)
    if args.deactivate:
        device = front.call("deactivate", device_id=args.deactivate)
        print(f"Deactivated {device['name']}: its seat is free and it is signed out.")
        return EXIT_OK
    devices = front.call("devices")
    if args.json:
        print(json.dumps({"devices": devices}, sort_keys=True))
        return EXIT_OK
    for device in devices:
        mark = "*" if device["current"] else " "
        seat = "holds a seat" if device["seat"] else "no seat"
        print(f"{mark} {device['id']}  {device['name']:<24} {device['platform']:<8} {seat}")
    return EXIT_OK


def _remote(config: Config, args: argparse.Namespace) -> int:
    enabled = Front(config).call("remote_deactivation", enabled=args.switch == "on")
    print(f"Remote device deactivation is {'on' if enabled else 'off'}.")
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
        print(f"Start at login is not available on this system ({result.platform}).")
    elif result.managed:
        print("Start at login is on for every user of this computer, set by the "
              f"administrator ({result.location}).")
    else:
        print(f"Start at login is {'on' if result.enabled else 'off'} ({result.location}).")
    return EXIT_OK if result.available or args.switch != "enable" else EXIT_FAILED


COMMANDS = {"status": _status, "config": _config, "login": _login, "logout": _logout,
            "release": _release, "borrow": _borrow, "return": _return, "acquire": _acquire,
            "devices": _devices, "remote-deactivation": _remote, "autostart": _autostart}
