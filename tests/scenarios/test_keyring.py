"""The desktop's own keyring holds the device token: a real Secret Service (gnome-keyring)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.scenarios.common import ScenarioServer
from tests.scenarios.conftest import AgentFactory
from tests.support.api import Api
from tests.support.secret_service import SecretService, missing


@pytest.fixture
def secret_service(tmp_path: Path) -> Iterator[SecretService]:
    """gnome-keyring on this test's own session bus, its login keyring unlocked."""
    problem = missing()
    if problem is not None:
        pytest.skip(f"{problem}; scripts/test installs it when run as root")
    with SecretService(tmp_path / "keyring") as service:
        yield service


def test_the_token_lives_in_the_keyring_and_logout_removes_it(
        secret_service: SecretService, scenario_server: ScenarioServer, scenario_api: Api,
        make_agent: AgentFactory) -> None:
    """With a Secret Service on the session bus (keyring's default choice), the token is
    kept there, never in a file; the daemon uses it; Log Out deletes it."""
    account, _license = scenario_api.new_account(seats=1)
    agent = make_agent("desktop-pc", server_url=scenario_server.url,
                       env={**secret_service.env, "PYTHON_KEYRING_BACKEND": None})
    agent.login(account["email"], account["password"])
    stored = secret_service.secrets("seatkeeper")
    assert len(stored) == 1, stored
    [token] = stored.values()
    assert token.startswith("skd_")
    assert not (agent.data_dir / "device-token").exists(), "the token went to a file"
    authorized = {"Authorization": f"Bearer {token}"}
    assert scenario_api.get("/v1/account", headers=authorized).status_code == 200

    agent.start()
    agent.wait_for("active")
    assert "no OS keyring" not in agent.logs_text()
    assert "keeping it in an owner-only file" not in agent.logs_text()
    assert agent.cli("logout").returncode == 0
    agent.wait_for("signed_out", until=lambda s: not s["pending"])
    assert secret_service.secrets("seatkeeper") == {}, "logout left the token in the keyring"
    assert scenario_api.get("/v1/account", headers=authorized).status_code == 401
    assert not (agent.data_dir / "device-token").exists()
