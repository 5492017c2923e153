"""Reading JSON objects off the wire: typed field access that names the field at fault."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from seatkeeper.core.errors import MalformedResponse

T = TypeVar("T")


def format_time(value: dt.datetime) -> str:
    """An aware datetime -> `2026-11-29T08:00:00Z` (whole seconds, UTC)."""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> dt.datetime:
    """An RFC 3339 string with a zone -> aware UTC datetime; ValueError otherwise."""
    value = dt.datetime.fromisoformat(text.replace("z", "Z"))
    if value.tzinfo is None:
        raise ValueError("no time zone")
    return value.astimezone(dt.UTC)


class Reader:
    """Typed access to one JSON object, naming `where.field` in every complaint."""

    def __init__(self, data: Any, where: str) -> None:
        if not isinstance(data, Mapping):
            raise MalformedResponse(
                f"The license server sent '{where}' as {type(data).__name__}, not an object.")
        self.data = data
        self.where = where

    def _fail(self, name: str, problem: str) -> MalformedResponse:
        return MalformedResponse(
            f"The license server sent an answer whose field '{self.where}.{name}' {problem}.")

    def _get(self, name: str, kind: type | tuple[type, ...], label: str,
             optional: bool) -> Any:
        if name not in self.data or self.data[name] is None:
            if optional:
                return None
            raise self._fail(name, "is missing")
        value = self.data[name]
        if isinstance(value, bool) and kind is not bool:
            raise self._fail(name, f"should be {label}, not a boolean")
        if not isinstance(value, kind):
            raise self._fail(name, f"should be {label}, not {type(value).__name__}")
        return value

    def text(self, name: str) -> str:
        return str(self._get(name, str, "a string", optional=False))

    def opt_text(self, name: str) -> str | None:
        value = self._get(name, str, "a string", optional=True)
        return None if value is None else str(value)

    def integer(self, name: str) -> int:
        return int(self._get(name, int, "an integer", optional=False))

    def opt_integer(self, name: str, default: int = 0) -> int:
        value = self._get(name, int, "an integer", optional=True)
        return default if value is None else int(value)

    def flag(self, name: str) -> bool:
        return bool(self._get(name, bool, "true or false", optional=False))

    def time(self, name: str) -> dt.datetime:
        value = self.opt_time(name)
        if value is None:
            raise self._fail(name, "is missing")
        return value

    def opt_time(self, name: str) -> dt.datetime | None:
        text = self._get(name, str, "an RFC 3339 time", optional=True)
        if text is None:
            return None
        try:
            return parse_time(text)
        except ValueError:
            raise self._fail(name, f"is not an RFC 3339 time: {text!r}") from None

    def opt_date(self, name: str) -> dt.date | None:
        text = self._get(name, str, "a date (YYYY-MM-DD)", optional=True)
        if text is None:
            return None
        try:
            if len(text) != 10:
                raise ValueError
            return dt.date.fromisoformat(text)
        except ValueError:
            raise self._fail(name, f"is not a date (YYYY-MM-DD): {text!r}") from None

    def obj(self, name: str, parse: Callable[[Any, str], T]) -> T:
        return parse(self._get(name, Mapping, "an object", optional=False),
                     f"{self.where}.{name}")

    def opt_obj(self, name: str, parse: Callable[[Any, str], T]) -> T | None:
        value = self._get(name, Mapping, "an object", optional=True)
        return None if value is None else parse(value, f"{self.where}.{name}")

    def items(self, name: str, parse: Callable[[Any, str], T]) -> tuple[T, ...]:
        items = self._get(name, list, "a list", optional=False)
        return tuple(parse(item, f"{self.where}.{name}[{i}]") for i, item in enumerate(items))


def format_optional(value: dt.datetime | dt.date | None) -> str | None:
    if value is None:
        return None
    return format_time(value) if isinstance(value, dt.datetime) else value.isoformat()
