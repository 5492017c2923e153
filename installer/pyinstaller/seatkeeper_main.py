"""The bundle's entry point: `seatkeeper …`, as the installed console script runs it."""

import sys

from seatkeeper.cli import main

if __name__ == "__main__":
    sys.exit(main())
