"""The user's config.toml as the agent writes it: one key set, comments and layout kept."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from seatkeeper.config import load_config
from seatkeeper.core.errors import ConfigError
from seatkeeper.service import user_config

WRITTEN_BY_HAND = """\
# Seatkeeper, as I set it up.
device_name = 'survey-laptop'   # the name the portal shows

log_level = "DEBUG"
"""


def test_setting_a_key_keeps_the_comments_layout_and_other_keys(tmp_path: Path) -> None:
    """server_url is added; every comment, quote style, blank line and key stays as it was."""
    path = tmp_path / "config.toml"
    path.write_text(WRITTEN_BY_HAND, encoding="utf-8")
    user_config.set_value(path, "server_url", "https://licenses.example.com")
    assert path.read_text(encoding="utf-8") == (
        WRITTEN_BY_HAND + 'server_url = "https://licenses.example.com"\n')
    config = load_config({"SEATKEEPER_HOME": str(tmp_path)}, system_file=tmp_path / "none")
    assert (config.server_url, config.device_name, config.log_level) == (
        "https://licenses.example.com", "survey-laptop", "DEBUG")


def test_a_key_set_again_is_replaced_in_place_with_its_comment(tmp_path: Path) -> None:
    """A value already there is changed where it stands; its trailing comment stays."""
    path = tmp_path / "config.toml"
    path.write_text('server_url = "https://old.example"  # from IT\nlog_level = "INFO"\n',
                    encoding="utf-8")
    user_config.set_value(path, "server_url", "https://new.example")
    assert path.read_text(encoding="utf-8") == (
        'server_url = "https://new.example"  # from IT\nlog_level = "INFO"\n')


def test_a_missing_file_is_made_owner_only(tmp_path: Path) -> None:
    """No file yet: one is made (and its folder), readable by its owner alone."""
    path = tmp_path / "new" / "config.toml"
    user_config.set_value(path, "server_url", "https://licenses.example.com")
    assert path.read_text(encoding="utf-8") == 'server_url = "https://licenses.example.com"\n'
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_a_readable_file_is_made_owner_only_and_replaced_atomically(tmp_path: Path) -> None:
    """The file is replaced by a new one (never rewritten in place) that only its owner can
    read; no temporary file is left behind."""
    path = tmp_path / "config.toml"
    path.write_text(WRITTEN_BY_HAND, encoding="utf-8")
    path.chmod(0o644)
    before = path.stat().st_ino
    user_config.set_value(path, "server_url", "https://licenses.example.com")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.stat().st_ino != before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.toml"]


def test_a_broken_file_is_left_alone_and_named(tmp_path: Path) -> None:
    """A file that is not TOML is never overwritten: the error names it and what to do."""
    path = tmp_path / "config.toml"
    broken = 'device_name = "survey-laptop\n# my notes\n'
    path.write_text(broken, encoding="utf-8")
    for call in (lambda: user_config.check_writable(path),
                 lambda: user_config.set_value(path, "server_url", "https://x.example")):
        with pytest.raises(ConfigError, match=f"{path}: not valid TOML .*fix the file"):
            call()
    assert path.read_text(encoding="utf-8") == broken


def test_a_linked_file_is_written_through_its_link(tmp_path: Path) -> None:
    """A config.toml that links into a dotfiles folder keeps its link; the target changes."""
    target = tmp_path / "dotfiles" / "seatkeeper.toml"
    target.parent.mkdir()
    target.write_text(WRITTEN_BY_HAND, encoding="utf-8")
    link = tmp_path / "home" / "config.toml"
    link.parent.mkdir()
    os.symlink(target, link)
    user_config.set_value(link, "server_url", "https://licenses.example.com")
    assert link.is_symlink()
    assert target.read_text(encoding="utf-8").endswith(
        'server_url = "https://licenses.example.com"\n')
