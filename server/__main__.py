"""`python -m server`: the same as the `seatkeeper-server` command."""

from server.cli import main

raise SystemExit(main())
