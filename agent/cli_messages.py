"""What `seatkeeper status` and `seatkeeper config show` print: plain words and local times.

The status reads as the tray does (its state lines and time formats, from
`seatkeeper.tray.view`); the times the agent writes into its messages in UTC
(`2026-11-29T08:10:00Z`) are said in local time here too. `--json` output is not made
here: it stays the agent's own, with stable keys.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any

from seatkeeper.config import Config, Origin, Setting
from seatkeeper.core.state import Status
from seatkeeper.core.wire import parse_time
from seatkeeper.i18n import N_, _, ngettext
from seatkeeper.phrases import say
from seatkeeper.tray.view import local_day_time, local_time, state_line

ISO_TIME = re.compile(r"\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\b")
PENDING_WORDS = {"logout": N_("to log out, since {time} ({tries}); sent when the license "
                             "server answers"),
                 "release": N_("to give the seat back, since {time} ({tries}); sent when the "
                               "license server answers")}
ORIGIN_WORDS = {Origin.DEFAULT: N_("default"), Origin.POLICY: N_("administrator"),
                Origin.USER: N_("your file"), Origin.ENVIRONMENT: N_("environment")}
LABEL_MIN = 11


def when(value: dt.datetime, now: dt.datetime, tz: dt.tzinfo | None = None) -> str:
    """`14:05` on the same local day as `now`, else `Thu 3 Dec 14:05`."""
    same_day = value.astimezone(tz).date() == now.astimezone(tz).date()
    return local_time(value, tz) if same_day else local_day_time(value, tz)


def local_times(text: str, now: dt.datetime, tz: dt.tzinfo | None = None) -> str:
    """`text` with each UTC time the agent wrote into it said in local time."""
    return ISO_TIME.sub(lambda found: when(parse_time(found.group()), now, tz), text)


def _labels() -> dict[str, str]:
    """The line labels in the language in use (the column is as wide as the longest)."""
    return {"account": _("Account"), "server": _("Server"), "license": _("License"),
            "seat": _("Seat"), "borrowed": _("Borrowed"), "in_use": _("In use on"),
            "waiting": _("Waiting"), "agent": _("Agent")}


def status_text(data: Mapping[str, Any], now: dt.datetime,
                tz: dt.tzinfo | None = None) -> str:
    """`status --json`'s object, in words: the tray's first line, then the details."""
    status = Status.from_json(dict(data))
    labels = _labels()
    width = max(LABEL_MIN, *(len(label) + 2 for label in labels.values()))

    def line(key: str, text: str) -> str:
        return f"{labels[key] + ':':<{width}}{text}"

    first = state_line(status, tz)
    lines = [first]
    detail = status.error or status.message
    if detail:
        detail = local_times(say(detail), now, tz)
        if detail not in first:
            lines.append(" " * width + detail)
    if status.account:
        lines.append(line("account", _("{account} on {server}").format(
            account=status.account, server=status.server)))
    elif status.server:
        lines.append(line("server", status.server))
    else:
        lines.append(line("server", _("not set: `seatkeeper login --server URL`, or the "
                                      "tray's Connect to a license server…")))
    if status.license_name:
        lines.append(line("license", _("{license} (seat {used} of {total})").format(
            license=status.license_name, used=status.seats_used, total=status.seats_total)))
    if status.lease_expires_at is not None:
        lines.append(line("seat", _("held until {time} unless renewed (lease {lease})").format(
            time=when(status.lease_expires_at, now, tz), lease=status.lease_id)))
    if status.borrowed_until is not None:
        lines.append(line("borrowed", _("for offline use until {time}").format(
            time=local_day_time(status.borrowed_until, tz))))
    for holder in status.holders:
        seen = holder.last_heartbeat_at
        lines.append(line("in_use", _("{device} (last heard from {time})").format(
            device=holder.name, time=when(seen, now, tz)) if seen else holder.name))
    for item in status.pending:
        tries = ngettext("{count} attempt", "{count} attempts", item.attempts).format(
            count=item.attempts)
        template = PENDING_WORDS.get(item.kind)
        text = _(template).format(time=when(item.created_at, now, tz), tries=tries) \
            if template else f"{item.kind}, {when(item.created_at, now, tz)} ({tries})"
        lines.append(line("waiting", text))
    if data.get("running") is False:
        lines.append(line("agent", _("not running (start it with `seatkeeper run`)")))
    return "\n".join(lines)


def shown_value(setting: Setting) -> str:
    """A setting's value as TOML would write it (no value is a secret: the checks refuse a
    password in server_url, and tokens live in the keyring, not the configuration)."""
    value = setting.value
    if value is None:
        return _("(not set)")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _origin(setting: Setting) -> str:
    words = _(ORIGIN_WORDS[setting.origin])
    if setting.where and setting.origin is not Origin.ENVIRONMENT:
        words = f"{words}: {setting.where}"
    elif setting.where:
        words = say(setting.where)
    return words + (_(", locked") if setting.locked else "")


def config_text(config: Config) -> str:
    """Every setting, its value and where it came from; then the agent's folders."""
    settings = config.settings()
    width = max(len(s.key) for s in settings) + 2
    value_width = min(36, max(len(shown_value(s)) for s in settings)) + 2
    heads = {"config_file": _("config file"), "data": _("data"), "logs": _("logs")}
    width = max(width, *(len(head) + 2 for head in heads.values()))
    setting, value, source = _("setting"), _("value"), _("from")
    lines = [f"{setting:<{width}}{value:<{value_width}}{source}"]
    lines += [f"{s.key:<{width}}{shown_value(s):<{value_width}}{_origin(s)}" for s in settings]
    paths = config.paths
    lines += ["", f"{heads['config_file']:<{width}}{paths.config_file}",
              f"{heads['data']:<{width}}{paths.data_dir}",
              f"{heads['logs']:<{width}}{paths.log_dir}"]
    return "\n".join(lines)  # the warnings went to stderr already, as for every command


def _json_value(value: Any) -> Any:
    """JSON's own types where the value has one; paths and dates as text."""
    return value if value is None or isinstance(value, bool | int | float | str) \
        else str(value)


def config_json(config: Config) -> dict[str, Any]:
    """The same, for programs: stable keys."""
    return {
        "settings": {s.key: {"value": _json_value(s.value), "source": s.origin.value,
                             "where": s.where, "locked": s.locked}
                     for s in config.settings()},
        "files": {"config_file": str(config.paths.config_file),
                  "data": str(config.paths.data_dir), "logs": str(config.paths.log_dir)},
        "warnings": list(config.warnings),
    }
