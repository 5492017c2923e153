"""`python -m seatkeeper`: the same as the `seatkeeper` command."""

from seatkeeper.cli import main

raise SystemExit(main())
