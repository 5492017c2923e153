"""The agent's side of applications' sessions, without a server: who may open one, and
that a login keeps the seat mode."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from seatkeeper.config import load_config
from seatkeeper.core.protocol import LoginResult
from seatkeeper.core.state import SeatState
from seatkeeper.service.credentials import CredentialStore
from seatkeeper.service.daemon import Agent
from seatkeeper.service.framing import ApiError

LOGIN = LoginResult.from_json({"token": "skd_token", "account": {"id": "a", "email": "e@x"},
                               "device": {"id": "d", "name": "pc"}})


def _agent(tmp_path: Path, mode: str) -> Agent:
    config = load_config({"SEATKEEPER_HOME": str(tmp_path)}, system_file=tmp_path / "none")
    return Agent(replace(config, seat_mode=mode),
                 credentials=CredentialStore(tmp_path / "data", use_keyring=False))


def test_signed_out_no_session_opens(tmp_path: Path) -> None:
    """open_session on a device that is not logged in answers NOT_SIGNED_IN, saying what to do."""
    with pytest.raises(ApiError) as caught:
        _agent(tmp_path, "app").open_session(app="A", version="1", released=None, pid=None)
    assert caught.value.code == "NOT_SIGNED_IN" and "seatkeeper login" in caught.value.message
    assert _agent(tmp_path, "app").sessions() == []


@pytest.mark.parametrize(("mode", "state"), [("app", SeatState.RELEASED),
                                             ("login", SeatState.ACQUIRING)])
def test_a_login_keeps_the_seat_mode(tmp_path: Path, mode: str, state: SeatState) -> None:
    """Logged in while running: `app` mode waits for an application, `login` asks at once."""
    agent = _agent(tmp_path, mode)
    agent.adopt_login("http://127.0.0.1:9", {}, LOGIN)
    assert agent.status().state is state


def test_closing_an_unknown_session_says_so(tmp_path: Path) -> None:
    """close_session of an id the agent does not know is False (NOT_FOUND on the channel)."""
    assert _agent(tmp_path, "login").close_session("nope") is False
