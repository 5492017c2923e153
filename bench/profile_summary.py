"""Summarise a py-spy `--format raw` profile (collapsed stacks): where the samples go.

    .venv/bin/python bench/profile_summary.py artefacts/bench/profile-sqlite.txt [--top 25]

Prints the functions with the most samples on top of the stack (self), the most samples
anywhere in the stack (inclusive, counted once per stack), and a coarse split of every
sample into buckets (database driver, SQLAlchemy, signing, JSON and pydantic, HTTP, ...).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path

# The first bucket whose pattern matches a frame (from the top of the stack down) gets it.
BUCKETS: list[tuple[str, str]] = [
    ("database driver (sqlite3 C calls, psycopg)", r"do_execute|do_commit|do_rollback|do_begin"
     r"|do_ping|psycopg/"),
    ("SQLAlchemy ORM and Core", r"sqlalchemy/"),
    ("Ed25519 signing + canonical JSON", r"server/signing\.py"),
    ("pydantic", r"pydantic"),
    ("thread hand-off (anyio worker threads, queues, locks)", r"anyio/|threading\.py|queue\.py"),
    ("FastAPI / Starlette request handling", r"fastapi/|starlette/"),
    ("HTTP server (uvicorn, h11)", r"uvicorn/|h11/"),
    ("asyncio event loop", r"asyncio/|selectors\.py"),
    ("server code (handlers, services, JSON rendering)", r"server/|json/"),
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("profile", type=Path)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args(argv)
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    buckets: Counter[str] = Counter()
    total = 0
    for line in args.profile.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        total += count
        own[_name(frames[-1])] += count
        for name in {_name(f) for f in frames}:
            inclusive[name] += count
        buckets[_bucket(frames)] += count
    if not total:
        print("no samples", file=sys.stderr)
        return 1
    print(f"{total} samples\n\nbuckets (each sample to the first match from the top):")
    for name, count in buckets.most_common():
        print(f"  {count / total:6.1%}  {name}")
    print(f"\nself (top {args.top}):")
    for name, count in own.most_common(args.top):
        print(f"  {count / total:6.1%}  {name}")
    print(f"\ninclusive (top {args.top}, server and SQLAlchemy frames):")
    shown = 0
    for name, count in inclusive.most_common():
        if re.search(r"server/|sqlalchemy/(orm|engine)/|psycopg|signing|fastapi/routing", name):
            print(f"  {count / total:6.1%}  {name}")
            shown += 1
            if shown == args.top:
                break
    return 0


def _name(frame: str) -> str:
    """`func (path/file.py:123)` -> `func (path/file.py)`: lines merged."""
    return re.sub(r":\d+\)$", ")", frame)


def _bucket(frames: list[str]) -> str:
    for frame in reversed(frames):
        for name, pattern in BUCKETS:
            if re.search(pattern, frame):
                return name
    return "other"


if __name__ == "__main__":
    sys.exit(main())
