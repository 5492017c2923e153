"""How fast the sweep reclaims after an outage: N expired leases on PostgreSQL, one sweep round.

    .venv/bin/python bench/sweep_rate.py                    # 200,000 leases
    .venv/bin/python bench/sweep_rate.py --leases 1000000   # a million (~2 min to write)

It writes the leases with COPY (bench/fleet_fixture.py), all expired a TTL ago as after a
long outage, then runs the server's own sweep (seatkeeper_server.sweeper.sweep_round,
the batches of 2,000 a transaction it runs every period) until none is left, and prints
leases reclaimed per second with one audit event each.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from fleet_fixture import populate, reclaimed_count  # noqa: E402
from seatkeeper_server.context import Context  # noqa: E402
from seatkeeper_server.db import make_engine, migrate, session_factory  # noqa: E402
from seatkeeper_server.services.seats import LeaseTerms  # noqa: E402
from seatkeeper_server.signing import Signer  # noqa: E402
from seatkeeper_server.sweeper import sweep_round  # noqa: E402

from tests.support import pg  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leases", type=int, default=200_000)
    parser.add_argument("--postgres-url", default=os.environ.get(pg.ENV_VAR)
                        or "postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    os.environ.setdefault(pg.ENV_VAR, args.postgres_url)
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    with pg.fresh_postgres_database() as url:
        engine = make_engine(url)
        migrate(engine)
        written = time.monotonic()
        populate(url, args.leases, 5, ttl_s=-900)
        print(f"wrote {args.leases:,} expired leases in {time.monotonic() - written:.0f} s",
              flush=True)
        context = Context(session_factory(engine), Signer(Ed25519PrivateKey.generate()),
                          LeaseTerms(900, 300), time.time)
        started, total, rounds = time.monotonic(), 0, 0
        while total < args.leases and rounds < 1000:
            total += sweep_round(context, budget_s=600).reclaimed
            rounds += 1
        seconds = time.monotonic() - started
        assert reclaimed_count(url) == args.leases
        print(f"reclaimed {total:,} leases in {seconds:.1f} s: {total / seconds:,.0f} per "
              f"second (load average {os.getloadavg()[0]:.1f})")
        engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
