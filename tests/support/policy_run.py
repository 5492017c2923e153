"""`seatkeeper ARGS` with the administrator's policy file at another path (a command).

    python tests/support/policy_run.py /tmp/…/system.toml run

The agent reads the administrator's settings from /etc/seatkeeper/config.toml, which a
test must not write: the machine and its /etc are shared with other test runs. This is
the real command line, with only that file's path moved; everything else, the policy's
reading and locking included, is the agent's own.
"""

from __future__ import annotations

import sys
from pathlib import Path

import seatkeeper.config
from seatkeeper import cli


def main(argv: list[str]) -> int:
    policy = Path(argv[0])
    seatkeeper.config.system_config_file = lambda: policy
    return cli.main(argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
