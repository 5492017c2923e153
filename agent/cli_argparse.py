"""argparse's own words (usage:, options, its errors) in the user's language.

argparse looks its messages up through the names `_` and `ngettext` it imported from
gettext, and CPython ships no catalogue for them: `speak()` points those names at the
agent's catalogue. The messages are listed here, as argparse writes them (CPython 3.11
to 3.13), so that the extraction finds them.
"""

from __future__ import annotations

import argparse

from seatkeeper.i18n import N_, _, ngettext

WORDS = (
    N_("usage: "), N_("positional arguments"), N_("options"),
    N_("show this help message and exit"),
    N_("%(prog)s: error: %(message)s\n"), N_("argument %(argument_name)s: %(message)s"),
    N_("unrecognized arguments: %s"), N_("not allowed with argument %s"),
    N_("the following arguments are required: %s"), N_("one of the arguments %s is required"),
    N_("expected one argument"), N_("invalid %(type)s value: %(value)r"),
    N_("invalid choice: %(value)r (choose from %(choices)s)"),
    N_("ambiguous option: %(option)s could match %(matches)s"),
)


def speak() -> None:
    """From now on argparse says its words as the agent does."""
    setattr(argparse, "_", _)  # noqa: B010 (argparse's own module-level names)
    setattr(argparse, "ngettext", ngettext)  # noqa: B010
