"""Words to be read in the reader's language later: a message's English and its values.

The services raise refusals whose English goes into the API's JSON (which stays English:
clients act on its `code`); the portal and the console show the same refusal in the
reader's language (seatkeeper_server.i18n.say). `N_`, `Text` and `Plural` mark messages for
the catalogues (seatkeeper_server.i18n.catalog extracts them); nothing here imports Babel.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def N_(message: str) -> str:
    """Mark `message` for the catalogues; it is translated where it is shown."""
    return message


class Text:
    """A message (`%(name)s` placeholders) and its values, translated when it is shown."""

    __slots__ = ("msgid", "values")

    def __init__(self, msgid: str, /, **values: Any) -> None:
        self.msgid = msgid
        self.values = values

    def translated(self, gettext: Callable[[str], str],
                   ngettext: Callable[[str, str, int], str]) -> str:
        return gettext(self.msgid) % self.values if self.values else gettext(self.msgid)

    def english(self) -> str:
        return self.translated(lambda message: message,
                               lambda one, many, n: one if n == 1 else many)

    def __str__(self) -> str:
        return self.english()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.msgid!r}, **{self.values!r})"


class Plural(Text):
    """A message whose words depend on a number: `num` among its values."""

    __slots__ = ("plural",)

    def __init__(self, msgid: str, plural: str, num: int, /, **values: Any) -> None:
        super().__init__(msgid, num=num, **values)
        self.plural = plural

    def translated(self, gettext: Callable[[str], str],
                   ngettext: Callable[[str, str, int], str]) -> str:
        return ngettext(self.msgid, self.plural, self.values["num"]) % self.values
