"""Errors reach a person with what to do: over the control socket and on the command line."""

from __future__ import annotations

from pathlib import Path

import pytest
from seatkeeper import cli
from seatkeeper.core import errors
from seatkeeper.service.control import ControlClient, ControlError, ControlServer, socket_path
from seatkeeper.service.framing import stateless


def _fail(op: str, args: dict[str, object]) -> object:
    raise errors.TLSError("The certificate of https://licenses.example is not trusted.")


def test_control_socket_keeps_the_hint(tmp_path: Path) -> None:
    """A daemon error crosses the socket with its code, message and hint."""
    server = ControlServer(str(socket_path(tmp_path / "run")),
                           stateless(_fail, lambda: iter(())))
    server.start()
    try:
        with pytest.raises(ControlError) as caught:
            ControlClient(str(socket_path(tmp_path / "run"))).call("status")
    finally:
        server.stop()
    assert caught.value.code == "OFFLINE"  # the server cannot be used; the words say why
    assert "not trusted" in caught.value.message and "ca_bundle" in caught.value.message


def test_command_line_prints_the_hint(monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    """`seatkeeper …` failing on one of our errors prints its message and what to do."""
    monkeypatch.setenv("SEATKEEPER_HOME", "/nonexistent-home")

    def boom(config: object, args: object) -> int:
        raise errors.Unauthenticated("The license server does not recognise this login.")

    monkeypatch.setitem(cli.COMMANDS, "status", boom)
    assert cli.main(["status"]) == cli.EXIT_FAILED
    assert capsys.readouterr().err.strip() == (
        "seatkeeper: The license server does not recognise this login. Log in again.")
