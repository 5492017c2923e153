"""`python -m agent`: the same as the `seatkeeper` command."""

from agent.cli import main

raise SystemExit(main())
