"""Plain http:// reaches only this computer: never through a proxy, never to another host."""

from __future__ import annotations

from tests.scenarios.common import ScenarioServer
from tests.scenarios.conftest import AgentFactory
from tests.support.api import Api
from tests.support.http_proxy import RecordingProxy


def test_loopback_http_never_goes_through_the_environment_proxy(
        scenario_server: ScenarioServer, scenario_api: Api, make_agent: AgentFactory) -> None:
    """HTTP_PROXY, HTTPS_PROXY and ALL_PROXY set: login, seat and logout all bypass the proxy."""
    account, _license = scenario_api.new_account(seats=1)
    with RecordingProxy() as trap:
        proxies = {name: trap.url for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY",
                                              "http_proxy", "https_proxy", "all_proxy")}
        agent = make_agent("proxied-pc", server_url=scenario_server.url,
                           env={**proxies, "NO_PROXY": "", "no_proxy": ""})
        agent.login(account["email"], account["password"])
        agent.start()
        agent.wait_for("active")
        assert agent.cli("release").returncode == 0
        agent.wait_for("released", until=lambda s: not s["pending"])
        assert agent.cli("logout").returncode == 0
        agent.wait_for("signed_out", until=lambda s: not s["pending"])
        assert trap.seen == [], f"the proxy saw {[seen.line for seen in trap.seen]}"


def test_plain_http_to_another_host_is_refused_before_anything_is_sent(
        make_agent: AgentFactory) -> None:
    """`login --server http://<not this computer>` fails naming the address; no request leaves."""
    with RecordingProxy() as trap:
        agent = make_agent("lan-pc", env={"HTTP_PROXY": trap.url, "ALL_PROXY": trap.url,
                                          "NO_PROXY": "", "no_proxy": ""})
        done = agent.cli("login", "--server", "http://licenses.example.test", "--email",
                         "a@example.test", "--password-stdin", input="pw\n")
        assert done.returncode == 1, done
        assert "http://licenses.example.test" in done.stderr and "not" in done.stderr
        assert "Traceback" not in done.stderr
        assert trap.seen == []
