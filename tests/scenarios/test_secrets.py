"""Secrets stay secret: no token or password in any log or output; secret files owner-only."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from tests.scenarios.conftest import AgentFactory
from tests.support.agent import AgentProcess
from tests.support.api import Api
from tests.support.proxy import FaultProxy


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def assert_owner_only(agent: AgentProcess) -> None:
    """Folders 0700; every file that holds a token (or could) 0600."""
    for folder in (agent.data_dir, agent.log_dir, agent.runtime_dir):
        assert mode(folder) == 0o700, f"{folder}: {oct(mode(folder))}"
    secret_files = [agent.data_dir / "device-token", agent.data_dir / "session.json",
                    *agent.data_dir.glob("outbox.sqlite3*"), *agent.log_dir.glob("*"),
                    agent.runtime_dir / "agent.sock"]
    for path in secret_files:
        if path.exists():
            assert mode(path) == 0o600, f"{path}: {oct(mode(path))}"
    assert (agent.data_dir / "outbox.sqlite3").exists()


def test_logs_and_outputs_never_show_tokens_or_the_password(
        scenario_api: Api, proxy: FaultProxy, make_agent: AgentFactory) -> None:
    """Through login, releases and an offline logout (DEBUG logging), no secret is written out."""
    account, _license = scenario_api.new_account(seats=1)
    password = account["password"]
    agent = make_agent("secret-pc", server_url=proxy.url, log_level="DEBUG")
    outputs = [agent.login(account["email"], password)]
    agent.start()
    agent.wait_for("active")
    secrets = {"password": password, "device token": agent.device_token(),
               "release token 1": agent.session()["release_token"]}
    assert secrets["device token"] and secrets["release token 1"]
    assert_owner_only(agent)

    proxy.cut()  # a release that has to wait in the outbox with its release token
    agent.wait_for("offline", timeout=10)
    outputs.append(agent.cli("release"))
    agent.wait_for("released")
    assert_owner_only(agent)
    proxy.restore()
    outputs.append(agent.cli("acquire"))
    agent.wait_for("active", timeout=15)
    secrets["release token 2"] = agent.session()["release_token"]
    assert secrets["release token 2"], "the held seat lost its release token"

    proxy.cut()  # a logout that waits, across a crash, with both tokens
    agent.wait_for("offline", timeout=10)
    assert agent.control("logout")["state"] == "logout_pending"  # the CLI would wait 5 s
    assert_owner_only(agent)
    agent.kill()
    outputs.append(agent.cli("status", "--json"))
    agent.start()
    proxy.restore()
    agent.wait_for("signed_out", timeout=15)
    outputs.append(agent.cli("status"))
    agent.stop()

    texts = {str(path): path.read_text(encoding="utf-8", errors="replace")
             for path in agent.log_files()}
    for number, done in enumerate(outputs):
        texts[f"output of {done.args[3:]} ({number})"] = done.stdout + done.stderr
    texts["status"] = json.dumps(agent.status())
    assert "seat request failed" in texts[str(agent.log_dir / "seatkeeper.log")]
    for name, secret in secrets.items():
        for where, text in texts.items():
            assert secret not in text, f"the {name} appears in {where}"
