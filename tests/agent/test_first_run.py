"""What the tray may offer about the license server, by where server_url comes from; and the
shape of a typed address, judged before any server is asked."""

from __future__ import annotations

from pathlib import Path

import pytest
from seatkeeper.config import load_config
from seatkeeper.core.errors import ServerAddressRejected
from seatkeeper.service.first_run import ServerChoice, server_setting
from seatkeeper.service.server_check import normalise

CORP = "https://corp.example"


@pytest.mark.parametrize(("system", "user", "env", "choice", "url", "suggested"), [
    ("", "", {}, ServerChoice.ASK, None, False),
    (f'server_url = "{CORP}"\n', "", {}, ServerChoice.ASK, CORP, True),
    (f'server_url = "{CORP}"\n[policy]\nlocked = ["server_url"]\n',
     'server_url = "https://mine.example"\n', {}, ServerChoice.FIXED, CORP, False),
    (f'server_url = "{CORP}"\n', 'server_url = "https://mine.example"\n', {},
     ServerChoice.CHANGE, "https://mine.example", False),
    ("", "", {"SEATKEEPER_SERVER_URL": "https://env.example"}, ServerChoice.FIXED,
     "https://env.example", False),
], ids=["nothing set", "administrator suggests", "administrator locks", "user chose",
        "variable"])
def test_what_the_tray_offers_follows_where_the_server_comes_from(
        tmp_path: Path, system: str, user: str, env: dict[str, str], choice: ServerChoice,
        url: str | None, suggested: bool) -> None:
    """Ask (empty, or pre-filled with the administrator's suggestion); never ask when it is
    locked or set by a variable; let the user change their own."""
    (tmp_path / "system.toml").write_text(system, encoding="utf-8")
    (tmp_path / "config.toml").write_text(user, encoding="utf-8")
    config = load_config({"SEATKEEPER_HOME": str(tmp_path), **env},
                         system_file=tmp_path / "system.toml")
    setting = server_setting(config)
    assert (setting.choice, setting.url, setting.suggested) == (choice, url, suggested)


@pytest.mark.parametrize(("typed", "kept"), [
    ("licenses.example.com", "https://licenses.example.com"),
    (" https://licenses.example.com/ ", "https://licenses.example.com"),
    ("HTTPS://Licenses.example.com/seatkeeper/", "https://licenses.example.com/seatkeeper"),
    ("http://127.0.0.1:8750", "http://127.0.0.1:8750"),
    ("http://localhost:8750/", "http://localhost:8750"),
    ("http://[::1]:8750", "http://[::1]:8750"),
])
def test_a_typed_address_is_written_as_server_url_holds_it(typed: str, kept: str) -> None:
    """https:// is added when left out; spaces and a trailing slash go; scheme and host
    are written in lower case."""
    assert normalise(typed) == kept


@pytest.mark.parametrize(("typed", "said"), [
    ("", "Type the address of your license server, like https://licenses.example.com."),
    ("ftp://files.example.com", 'it starts with ftp://'),
    ("licenses example com", 'is not a web address'),
    ("https://licenses.example.com:70000", "should be a number from 1 to 65535"),
    ("https://ana:secret@licenses.example.com", "Leave the user name and password out"),
    ("https://licenses.example.com/?next=portal", "Leave out everything from the ? or #"),
    ("http://licenses.example.com", "Plain http:// is allowed only to this computer"),
    ("http://10.0.0.5:8750", "Plain http:// is allowed only to this computer"),
])
def test_a_wrong_address_says_what_is_wrong(typed: str, said: str) -> None:
    """Each wrong shape has its own sentence, with the fix."""
    with pytest.raises(ServerAddressRejected) as caught:
        normalise(typed)
    assert said in caught.value.message
