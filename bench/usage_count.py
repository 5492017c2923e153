"""The daily usage count: time to count one day of N leases, against reading those leases.

    .venv/bin/python bench/usage_count.py                       # 200,000 leases, both databases
    .venv/bin/python bench/usage_count.py --leases 50000 --backends sqlite   # a quick look

A fresh database per backend gets L licenses (one account each) and N leases on one UTC
day (random starts, 5 minutes to 10 hours long, the late ones crossing midnight, one
device per lease), written straight into the tables. The floor is a query that reads the
same leases the count reads (the day's, through the same index) and counts their devices;
the figure is `services.usage.count_day` for that day, the whole count (the seats-held
sweep line, the distinct devices, the rows written), in its own transaction each trial.
Results: artefacts/bench/usage_count.{json,md}; docs/benchmarks.md keeps the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from seatkeeper_server.db import make_engine, migrate, session_factory  # noqa: E402
from seatkeeper_server.models import Account, Device, Lease, License  # noqa: E402
from seatkeeper_server.services import usage  # noqa: E402
from sqlalchemy import Engine, insert, text  # noqa: E402

from tests.support import pg  # noqa: E402

DAY0 = 1_893_456_000  # 2030-01-01T00:00:00Z
FLOOR_SQL = text("SELECT count(*), count(DISTINCT device_id) FROM leases "
                 "WHERE issued_at < :d1 AND (released_at IS NULL OR released_at >= :d0)")


def populate(engine: Engine, leases: int, licenses: int, seed: int) -> None:
    rng = random.Random(seed)
    accounts = [{"id": f"acc_{i:08d}", "email": f"u{i}@bench.test", "password_hash": "x",
                 "remote_deactivation": False, "created_at": DAY0, "role": "user"}
                for i in range(licenses)]
    lics = [{"id": f"lic_{i:08d}", "account_id": f"acc_{i:08d}", "name": "Bench", "kind":
             "subscription", "seats_total": 50, "created_ns": DAY0 * 10**9 + i,
             "max_borrow_s": 0} for i in range(licenses)]
    devices, rows = [], []
    for i in range(leases):
        owner = rng.randrange(licenses)
        start = DAY0 + rng.randrange(86400)
        end = start + rng.randrange(300, 36000)
        devices.append({"id": f"dev_{i:08d}", "account_id": f"acc_{owner:08d}",
                        "fingerprint": f"f{i}", "name": "pc", "platform": "linux",
                        "logged_in": True, "created_at": DAY0})
        rows.append({"id": f"lea_{i:08d}", "license_id": f"lic_{owner:08d}",
                     "device_id": f"dev_{i:08d}", "account_id": f"acc_{owner:08d}",
                     "issued_at": start, "expires_at": end, "last_heartbeat_at": start,
                     "release_token_hash": f"{i:064d}", "released_at": end,
                     "release_reason": "user"})
    with engine.begin() as conn:
        for table, values in ((Account, accounts), (License, lics), (Device, devices),
                              (Lease, rows)):
            for chunk in range(0, len(values), 20_000):
                conn.execute(insert(table), values[chunk:chunk + 20_000])
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))


def measure(engine: Engine, trials: int) -> dict[str, Any]:
    sessions = session_factory(engine)
    floor, figure, rows = [], [], 0
    for _ in range(trials):
        with sessions.begin() as session:
            began = time.perf_counter()
            session.execute(FLOOR_SQL, {"d0": DAY0, "d1": DAY0 + 86400}).one()
            floor.append(time.perf_counter() - began)
        with sessions.begin() as session:
            began = time.perf_counter()
            usage.count_day(session, DAY0, DAY0 + 2 * 86400)
            figure.append(time.perf_counter() - began)
        with engine.connect() as conn:
            rows = int(conn.execute(text("SELECT count(*) FROM usage_days")).scalar_one())
    return {"floor_s": statistics.median(floor), "count_s": statistics.median(figure),
            "ratio": statistics.median(figure) / statistics.median(floor), "usage_rows": rows}


def database(backend: str, folder: Path) -> AbstractContextManager[str]:
    if backend == "sqlite":
        return nullcontext(f"sqlite:///{folder / 'usage.db'}")
    os.environ.setdefault(pg.ENV_VAR, "postgresql://postgres@127.0.0.1:5432/test")
    return pg.fresh_postgres_database()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leases", type=int, default=200_000)
    parser.add_argument("--licenses", type=int, default=5_000)
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "artefacts" / "bench")
    args = parser.parse_args()
    results = []
    for backend in args.backends.split(","):
        with tempfile.TemporaryDirectory() as folder, database(backend, Path(folder)) as url:
            engine = make_engine(url)
            migrate(engine)
            populate(engine, args.leases, args.licenses, args.seed)
            results.append({"backend": backend, "leases": args.leases,
                            "licenses": args.licenses, **measure(engine, args.trials)})
            engine.dispose()
    lines = ["| database | leases in the day | licenses | floor: read them (s) | count the day "
             "(s) | ratio | usage rows |", "| --- | --- | --- | --- | --- | --- | --- |"]
    lines += [f"| {r['backend']} | {r['leases']:,} | {r['licenses']:,} | {r['floor_s']:.3f} | "
              f"{r['count_s']:.3f} | {r['ratio']:.1f} | {r['usage_rows']:,} |" for r in results]
    table = "\n".join(lines)
    print(table)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "usage_count.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.out / "usage_count.md").write_text(table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
