"""The agent's own English sentences, said again in the user's language by the front ends.

The daemon writes its messages in English: `status --json` and the local API carry them,
and programs read them. The tray and the CLI show them through `say()`, which finds each
sentence among the known templates (`N_()`-marked: the error tree's messages and hints,
`explain()`'s lines, the checks' and the browser login's) and translates it, keeping the
values (times, names, addresses) it carries. A sentence it does not know (a license
server's own message) is shown as it came.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache

from seatkeeper.i18n import _, current

FIELD = re.compile(r"\{(\w+)\}")


def _templates() -> Iterator[str]:
    from seatkeeper.core import errors, sentences, state

    stack: list[type] = [errors.SeatkeeperError]
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        for name in ("default_message", "hint"):
            text = cls.__dict__.get(name)
            if text:
                yield text
        yield from cls.__dict__.get("MESSAGES", {}).values()
    yield from state.EXPLANATIONS
    yield from sentences.ALL


@lru_cache(maxsize=1)
def _patterns() -> tuple[tuple[re.Pattern[str], str], ...]:
    """Each template as a pattern that matches its sentence at a position, longest first."""
    found = []
    for template in sorted(set(_templates()), key=len, reverse=True):
        parts = FIELD.split(template)
        pattern = "".join(re.escape(part) if index % 2 == 0 else f"(?P<{part}>.+?)"
                          for index, part in enumerate(parts))
        found.append((re.compile(pattern + r"(?=\s|$)"), template))
    return tuple(found)


def say(text: str) -> str:
    """`text`, an English message of the agent's, in the language in use, sentence by
    sentence."""
    if current() == "en" or not text:
        return text
    said: list[str] = []
    position = 0
    while position < len(text):
        best = None
        for pattern, template in _patterns():
            match = pattern.match(text, position)
            if match and (best is None or match.end() > best[0].end()):
                best = (match, template)
        if best is None:
            end = text.find(". ", position)
            end = len(text) if end < 0 else end + 1
            said.append(text[position:end])
        else:
            match, template = best
            values = {name: say(value) for name, value in match.groupdict().items()}
            said.append(_(template).format(**values))
            end = match.end()
        position = end
        while position < len(text) and text[position] == " ":
            position += 1
    return " ".join(said)
