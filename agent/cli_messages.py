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
from seatkeeper.tray.view import local_day_time, local_time, state_line

ISO_TIME = re.compile(r"\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\b")
PENDING_WORDS = {"logout": "log out", "release": "give the seat back"}
ORIGIN_WORDS = {Origin.DEFAULT: "default", Origin.POLICY: "administrator",
                Origin.USER: "your file", Origin.ENVIRONMENT: "environment"}
LABEL_WIDTH = 11


def when(value: dt.datetime, now: dt.datetime, tz: dt.tzinfo | None = None) -> str:
    """`14:05` on the same local day as `now`, else `Thu 3 Dec 14:05`."""
    same_day = value.astimezone(tz).date() == now.astimezone(tz).date()
    return local_time(value, tz) if same_day else local_day_time(value, tz)


def local_times(text: str, now: dt.datetime, tz: dt.tzinfo | None = None) -> str:
    """`text` with each UTC time the agent wrote into it said in local time."""
    return ISO_TIME.sub(lambda found: when(parse_time(found.group()), now, tz), text)


def _line(label: str, text: str) -> str:
    return f"{label + ':':<{LABEL_WIDTH}}{text}"


def status_text(data: Mapping[str, Any], now: dt.datetime,
                tz: dt.tzinfo | None = None) -> str:
    """`status --json`'s object, in words: the tray's first line, then the details."""
    status = Status.from_json(dict(data))
    first = state_line(status, tz)
    lines = [first]
    detail = status.error or status.message
    if detail:
        detail = local_times(detail, now, tz)
        if detail not in first:
            lines.append(" " * LABEL_WIDTH + detail)
    if status.account:
        lines.append(_line("Account", f"{status.account} on {status.server}"))
    elif status.server:
        lines.append(_line("Server", status.server))
    else:
        lines.append(_line("Server", "not set: `seatkeeper login --server URL`, or the tray's "
                                     "Connect to a license server…"))
    if status.license_name:
        lines.append(_line("License", f"{status.license_name} (seat {status.seats_used} of "
                                      f"{status.seats_total})"))
    if status.lease_expires_at is not None:
        lines.append(_line("Seat", f"held until {when(status.lease_expires_at, now, tz)} "
                                   f"unless renewed (lease {status.lease_id})"))
    if status.borrowed_until is not None:
        lines.append(_line("Borrowed", "for offline use until "
                           f"{local_day_time(status.borrowed_until, tz)}"))
    for holder in status.holders:
        seen = holder.last_heartbeat_at
        lines.append(_line("In use on", holder.name + (
            f" (last heard from {when(seen, now, tz)})" if seen else "")))
    for item in status.pending:
        what = PENDING_WORDS.get(item.kind, item.kind)
        tries = f"{item.attempts} attempt{'s' if item.attempts != 1 else ''}"
        lines.append(_line("Waiting", f"to {what}, since {when(item.created_at, now, tz)} "
                                      f"({tries}); sent when the license server answers"))
    if data.get("running") is False:
        lines.append(_line("Agent", "not running (start it with `seatkeeper run`)"))
    return "\n".join(lines)


def shown_value(setting: Setting) -> str:
    """A setting's value as TOML would write it (no value is a secret: the checks refuse a
    password in server_url, and tokens live in the keyring, not the configuration)."""
    value = setting.value
    if value is None:
        return "(not set)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _origin(setting: Setting) -> str:
    words = ORIGIN_WORDS[setting.origin]
    if setting.where and setting.origin is not Origin.ENVIRONMENT:
        words = f"{words}: {setting.where}"
    elif setting.where:
        words = setting.where
    return words + (", locked" if setting.locked else "")


def config_text(config: Config) -> str:
    """Every setting, its value and where it came from; then the agent's folders."""
    settings = config.settings()
    width = max(len(s.key) for s in settings) + 2
    value_width = min(36, max(len(shown_value(s)) for s in settings)) + 2
    lines = [f"{'setting':<{width}}{'value':<{value_width}}from"]
    lines += [f"{s.key:<{width}}{shown_value(s):<{value_width}}{_origin(s)}" for s in settings]
    paths = config.paths
    lines += ["", f"{'config file':<{width}}{paths.config_file}",
              f"{'data':<{width}}{paths.data_dir}", f"{'logs':<{width}}{paths.log_dir}"]
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
