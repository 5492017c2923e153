"""`python -m seatkeeper_server`: the same as the `seatkeeper-server` command."""

from seatkeeper_server.cli import main

raise SystemExit(main())
