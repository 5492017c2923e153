"""The command line as a new user meets it: `login --server URL` goes to the browser, `status`
speaks like the tray in local time (its `--json` only gains keys), `config show` says where
every setting came from and never shows a secret."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any
from zoneinfo import ZoneInfo

from seatkeeper.core.wire import parse_time

from tests.portal.conftest import BrowserLogin
from tests.scenarios.common import ScenarioServer
from tests.scenarios.conftest import AgentFactory
from tests.support.api import Api
from tests.support.portal import Portal

ISO_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
# Half an hour off the hour, so a UTC time can never pass for the local one.
ZONE = "Asia/Kolkata"
# status --json's keys as README.md documents them: later versions may add, never remove.
STABLE_KEYS = {"state", "server", "account", "device", "license", "lease", "seat_holders",
               "revoked_by", "error", "message", "pending", "discovery_chosen",
               "borrowed_until", "running", "local_api"}
LICENSE_KEYS = {"name", "seats_used", "seats_total", "max_borrow_s"}
LEASE_KEYS = {"lease_id", "expires_at"}


def test_login_with_a_server_and_no_email_logs_in_through_the_browser(
        scenario_server: ScenarioServer, scenario_api: Api, make_agent: AgentFactory) -> None:
    """`seatkeeper login --server URL`: a code to approve in the browser, no password asked."""
    account, _ = scenario_api.new_account(seats=1)
    agent = make_agent("new-laptop")
    assert "server_url" not in agent.config
    login = BrowserLogin(agent, ("--server", scenario_server.url, "--no-open"))
    visitor = Portal(scenario_server.url)
    try:
        assert f"open {scenario_server.url}/portal/device and enter the code {login.code}" \
            in login.first
        assert visitor.sign_in(account["email"], account["password"]).status_code == 303
        assert visitor.approve(login.code).status_code == 200
        code, out, err = login.finish()
    finally:
        login.kill()
        visitor.close()
    assert code == 0, out + err
    assert f"Logged in as {account['email']} on {scenario_server.url}." in out
    assert "password" not in (out + err).lower()
    assert agent.status()["account"] == account["email"]

    wrong = agent.cli("login", "--password-stdin", input="secret\n")
    assert wrong.returncode == 2
    assert "--password-stdin goes with --email" in wrong.stderr


def test_status_speaks_like_the_tray_in_local_time(
        scenario_server: ScenarioServer, scenario_api: Api, make_agent: AgentFactory) -> None:
    """The tray's words, the lease's end in this computer's time zone, no raw state names
    or UTC timestamps."""
    account, _ = scenario_api.new_account(seats=2)
    agent = make_agent("survey-laptop", server_url=scenario_server.url, env={"TZ": ZONE})
    signed_out = agent.cli("status")
    assert signed_out.stdout.splitlines()[0] == "Not logged in"
    assert "signed_out" not in signed_out.stdout
    agent.login(account["email"], account["password"])
    agent.start()
    held = agent.wait_for("active")
    text = agent.cli("status").stdout
    until = parse_time(held["lease"]["expires_at"]).astimezone(ZoneInfo(ZONE))
    local = until.strftime("%H:%M") if until.date() == dt.datetime.now(ZoneInfo(ZONE)).date() \
        else until.strftime("%a %-d %b %H:%M")
    assert text.splitlines() == [
        "Seat 1 of 2",
        f"Account:   {account['email']} on {scenario_server.url}",
        f"License:   {held['license']['name']} (seat 1 of 2)",
        f"Seat:      held until {local} unless renewed (lease {held['lease']['lease_id']})"]
    assert not ISO_TIME.search(text) and "active" not in text


def keys_of(status: dict[str, Any]) -> None:
    """Every documented key is there, the nested objects' too."""
    assert set(status) >= STABLE_KEYS, STABLE_KEYS - set(status)
    if status["license"] is not None:
        assert set(status["license"]) >= LICENSE_KEYS
    if status["lease"] is not None:
        assert set(status["lease"]) >= LEASE_KEYS


def test_status_json_keeps_every_documented_key(
        scenario_server: ScenarioServer, scenario_api: Api, make_agent: AgentFactory) -> None:
    """`status --json` from the CLI alone and from the running agent: the documented keys,
    nested ones included, with their values still in UTC for programs."""
    account, _ = scenario_api.new_account(seats=1)
    agent = make_agent("json-pc", server_url=scenario_server.url, env={"TZ": ZONE})
    alone = json.loads(agent.cli("status", "--json").stdout)
    keys_of(alone)
    assert (alone["state"], alone["running"]) == ("signed_out", False)
    agent.login(account["email"], account["password"])
    agent.start()
    agent.wait_for("active")
    running = json.loads(agent.cli("status", "--json").stdout)
    keys_of(running)
    assert (running["state"], running["running"]) == ("active", True)
    assert ISO_TIME.fullmatch(running["lease"]["expires_at"])


def test_config_show_names_every_source_and_no_secret(
        scenario_server: ScenarioServer, scenario_api: Api, make_agent: AgentFactory) -> None:
    """`config show`: the user's file and a variable named as sources, the rest defaults;
    after a login neither it nor --json holds the device token."""
    account, _ = scenario_api.new_account(seats=1)
    agent = make_agent("config-pc", server_url=scenario_server.url,
                       env={"SEATKEEPER_LOG_LEVEL": "warning"})
    agent.login(account["email"], account["password"])
    shown = agent.cli("config", "show")
    assert shown.returncode == 0, shown.stderr
    rows = {line.split()[0]: line for line in shown.stdout.splitlines() if line.strip()}
    assert rows["server_url"].split()[1:] == [scenario_server.url, "your", "file:",
                                              str(agent.config_file)]
    assert rows["log_level"].split()[1:] == ["WARNING", "environment", "variable",
                                             "SEATKEEPER_LOG_LEVEL"]
    assert rows["seat_mode"].split()[1:] == ["login", "default"]
    as_json = json.loads(agent.cli("config", "show", "--json").stdout)
    assert as_json["settings"]["device_name"] == {
        "value": "config-pc", "source": "user", "where": str(agent.config_file),
        "locked": False}
    token = agent.device_token()
    assert token not in shown.stdout + shown.stderr
    assert token not in json.dumps(as_json)
