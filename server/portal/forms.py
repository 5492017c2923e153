"""Reading the forms the portal and the console send, and refusing any they never send."""

from __future__ import annotations

from urllib.parse import parse_qs

from fastapi import Request
from seatkeeper_server.text import Text

MAX_FORM_FIELDS = 20


class BadForm(Exception):
    """A form this site never sends: answered with a 400 page saying what was wrong."""

    def __init__(self, text: Text) -> None:
        super().__init__(text.english())
        self.text = text


async def read(request: Request) -> dict[str, str]:
    """The posted fields, each its first value; BadForm for too many fields or a NUL."""
    try:
        fields = parse_qs((await request.body()).decode("utf-8", "replace"),
                          max_num_fields=MAX_FORM_FIELDS)
    except ValueError:
        raise BadForm(Text("The form has more than %(most)d fields; the forms here have a "
                           "few.", most=MAX_FORM_FIELDS)) from None
    for name, values in fields.items():
        if any("\x00" in text for text in (name, *values)):
            # PostgreSQL can neither store nor compare a string holding NUL.
            raise BadForm(Text("The form's field %(name)r holds a NUL character, which no "
                               "email, password or code contains.",
                               name=name.replace(chr(0), "")))
    return {name: values[0] for name, values in fields.items()}
