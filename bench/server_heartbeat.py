"""Heartbeat throughput and latency of the license server, against its /v1/health floor.

For each database backend (SQLite, PostgreSQL) this starts the real server (`python -m
server`, through the test harness's ServerProcess), makes one account with `--licenses`
licenses of N seats, logs N devices in once and has each take a lease on every license
(N = the largest client count; 8 licenses: 1,024 leases, so that each lease is renewed less
than once a second and every heartbeat writes, as real ones 300 s apart do). Then, for each
client count, it measures two workloads in the same run, each for a fixed time after a
short warm-up, with a load generator in a separate process (bench/loadgen.py: raw asyncio
HTTP/1.1, one keep-alive connection per client):

- `GET /v1/health`: the framework's floor (routing, JSON, HTTP; no database);
- `POST /v1/seats/{lease_id}/heartbeat`: each client heartbeats its own leases (lease j
  goes to client j mod c), closed loop;

and both again paced (open loop) at `--paced` requests/s from the largest client count.

It reports requests per second and p50/p99 latency per workload, client count and backend,
the ratio of heartbeat to health throughput, the CPU the server, PostgreSQL and the generator
used per request, and the generator's own ceiling against a canned-response stub. Results go
to artefacts/bench/server_heartbeat.{json,md}. Targets (issue 2): heartbeats reach at least
half the floor's throughput, and p99 under 50 ms at 128 clients.

    .venv/bin/python bench/server_heartbeat.py                      # the whole benchmark
    .venv/bin/python bench/server_heartbeat.py --rounds 3           # medians of 3 rounds
    .venv/bin/python bench/server_heartbeat.py --backends sqlite --duration 3 --warmup 1

Loopback only; every loop is bounded by its duration; the PostgreSQL database is made fresh
for the run and dropped after it.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import requests
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.engine import make_url

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

# bench/ itself is sys.path[0] when this file is run as a script: the sibling modules.
from heartbeat_fixture import (  # noqa: E402
    LeaseWrites,
    check_after,
    make_signing_key,
    populate,
    workload_clients,
)
from heartbeat_report import (  # noqa: E402
    environment,
    markdown,
    medians,
    no_nan,
    per_request,
    summary,
    verdicts,
)

from tests.support import pg  # noqa: E402
from tests.support.procs import ServerProcess, free_port  # noqa: E402

LOADGEN = Path(__file__).with_name("loadgen.py")
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
WORKLOADS = ("health", "heartbeat")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default="sqlite,postgres",
                        help="comma-separated: sqlite, postgres (default: both)")
    parser.add_argument("--clients", default="1,16,128",
                        help="comma-separated concurrent client counts (default: 1,16,128)")
    parser.add_argument("--duration", type=float, default=8.0,
                        help="seconds measured per workload and client count (default 8)")
    parser.add_argument("--warmup", type=float, default=2.0,
                        help="seconds of unmeasured load before each measurement (default 2)")
    parser.add_argument("--licenses", type=int, default=8,
                        help="licenses on the account; every device holds a lease on each, and "
                        "the clients share all the leases out (default 8: 1,024 leases for 128 "
                        "devices, so that each lease is renewed less than once a second and "
                        "every heartbeat writes, as real ones 300 s apart do)")
    parser.add_argument("--paced", type=float, default=100.0, metavar="RPS",
                        help="also measure both workloads paced (open loop) at this many "
                        "requests per second from the largest client count together, latency "
                        "counted from when each request was due (default 100; 0: skip)")
    parser.add_argument("--batches", action="store_true",
                        help="also report heartbeats per batch (the door's group commit), "
                             "read from the servers' metrics (--metrics-listen: a little "
                             "server CPU per request, so off for the ratios)")
    parser.add_argument("--paced-only", action="store_true",
                        help="measure only the paced cells (e.g. --clients 1000 --paced 1000)")
    parser.add_argument("--processes", type=int, default=1, metavar="N",
                        help="run N server processes on the same database and spread the "
                        "clients over them, as uvicorn --workers would (default 1; no wrk "
                        "cross-check then)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="repeat every measurement this many times and report medians")
    parser.add_argument("--postgres-url",
                        default=os.environ.get(pg.ENV_VAR) or DEFAULT_POSTGRES,
                        help=f"PostgreSQL server to make a throwaway database on "
                        f"(default: ${pg.ENV_VAR} or {DEFAULT_POSTGRES})")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "artefacts" / "bench",
                        help="where server_heartbeat.json and .md go")
    parser.add_argument("--label", default="",
                        help="a name for this configuration, kept in the results and file names")
    parser.add_argument("--server-arg", action="append", default=[], metavar="ARG",
                        help="an extra argument for the server command line (repeatable)")
    parser.add_argument("--server-pythonpath", metavar="DIR",
                        help="prepend DIR to the server's PYTHONPATH (e.g. to try uvloop and "
                        "httptools without installing them into the venv)")
    parser.add_argument("--no-stub", action="store_true",
                        help="skip measuring the generator's ceiling against a stub server")
    parser.add_argument("--wrk", choices=("auto", "yes", "no"), default="auto",
                        help="cross-check the largest client count with wrk (auto: if installed)")
    parser.add_argument("--py-spy", metavar="PATH",
                        help="py-spy binary: record the server (GIL holders) during the "
                        "heartbeat phase at the largest client count, into --out")
    args = parser.parse_args(argv)
    args.backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    for backend in args.backends:
        if backend not in ("sqlite", "postgres"):
            parser.error(f"unknown backend {backend!r}: use sqlite and/or postgres")
    args.clients = sorted({int(c) for c in args.clients.split(",")})
    if not args.clients or args.clients[0] < 1 or args.clients[-1] > 1000:
        parser.error("client counts must be between 1 and 1000")
    if not (0 < args.duration <= 120 and 0 <= args.warmup <= 60 and 1 <= args.rounds <= 10
            and 1 <= args.processes <= 8):
        parser.error("duration 0-120 s, warm-up 0-60 s, rounds 1-10, processes 1-8")
    return args


# -- the load generator --------------------------------------------------------------------

def run_loadgen(ports: list[int], clients: list[list[dict[str, Any]]], warmup: float,
                duration: float, watch: dict[str, Any],
                rate_per_s: float | None = None) -> dict[str, Any]:
    spec = {"host": "127.0.0.1", "ports": ports, "warmup_s": warmup, "duration_s": duration,
            "timeout_s": 30.0, "clients": clients, "watch": watch, "rate_per_s": rate_per_s}
    done = subprocess.run([sys.executable, str(LOADGEN)], input=json.dumps(spec), text=True,
                          capture_output=True, timeout=warmup + duration + 120, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"load generator failed ({done.returncode}): {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def stub_ceiling(clients: list[int], warmup: float, duration: float) -> list[dict[str, Any]]:
    """What the generator alone can do: the same client against a canned-answer stub."""
    port = free_port()
    total = len(clients) * (warmup + duration) + 60
    stub = subprocess.Popen([sys.executable, str(LOADGEN), "--stub", str(port), str(total)],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert stub.stdout is not None
        if stub.stdout.readline().strip() != "ready":
            raise RuntimeError("the stub server did not start")
        rows = []
        for count in clients:
            result = run_loadgen([port], [[{"method": "GET", "path": "/v1/health"}]] * count,
                                 warmup, duration, {})
            rows.append({"clients": count, "rps": result["rps"],
                         "p50_ms": result["latency_ms"]["p50"],
                         "p99_ms": result["latency_ms"]["p99"],
                         "loadgen_cpu_us_per_req": per_request(result, "loadgen")})
        return rows
    finally:
        stub.terminate()
        stub.wait(timeout=10)


# -- wrk, as an independent cross-check of the generator -----------------------------------

WRK_LUA = """
local leases = {}
local i = 0
function init(args)
  for line in io.lines(args[1]) do
    local id, token = line:match("^(%S+) (%S+)$")
    if id then table.insert(leases, {id, token}) end
  end
end
function request()
  i = i % #leases + 1
  return wrk.format("POST", "/v1/seats/" .. leases[i][1] .. "/heartbeat",
                    {["Authorization"] = "Bearer " .. leases[i][2],
                     ["Content-Length"] = "0"}, "")
end
"""


def run_wrk(wrk: str, url: str, count: int, duration: float, work: Path,
            leases: list[tuple[str, str]] | None) -> dict[str, Any]:
    """wrk -c count on /v1/health, or heartbeats round-robin over all `leases` (one thread:
    one Lua state, so no two connections send the same lease at once unless count exceeds
    the number of leases)."""
    cmd = [wrk, "-t", "1", "-c", str(count), "-d", f"{max(1, round(duration))}s", "--latency",
           "--timeout", "30s"]
    if leases is not None:
        script, table = work / "heartbeat.lua", work / "leases.txt"
        script.write_text(WRK_LUA)
        table.write_text("".join(f"{lid} {tok}\n" for lid, tok in leases))
        cmd += ["-s", str(script), f"{url}/", "--", str(table)]
    else:
        cmd.append(f"{url}/v1/health")
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60,
                          check=False)
    out = done.stdout
    row: dict[str, Any] = {"clients": count, "rps": math.nan, "p50_ms": math.nan,
                           "p99_ms": math.nan, "non_2xx": 0, "raw": out[-1500:]}
    for line in out.splitlines():
        parts = line.split()
        if line.startswith("Requests/sec:"):
            row["rps"] = float(parts[1])
        elif len(parts) == 2 and parts[0] in ("50%", "99%"):
            row["p50_ms" if parts[0] == "50%" else "p99_ms"] = _wrk_ms(parts[1])
        elif "Non-2xx" in line:
            row["non_2xx"] = int(parts[-1])
    return row


def _wrk_ms(text: str) -> float:
    for suffix, scale in (("us", 1e-3), ("ms", 1.0), ("s", 1e3), ("m", 6e4)):
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * scale
    return math.nan


# -- one backend ---------------------------------------------------------------------------

def bench_backend(backend: str, args: argparse.Namespace, stack: ExitStack,
                  work: Path, wrk: str | None) -> dict[str, Any]:
    home = work / backend
    home.mkdir()
    key = home / "signing-key.pem"
    make_signing_key(key)
    if backend == "sqlite":
        db_url = f"sqlite:///{home / 'server.db'}"
    else:
        os.environ.setdefault(pg.ENV_VAR, args.postgres_url)
        db_url = stack.enter_context(pg.fresh_postgres_database())
    env = {}
    if args.server_pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (args.server_pythonpath, os.environ.get("PYTHONPATH")) if p)
    # One server, or several on one database (what `--workers` would be), one after the
    # other so that only the first applies the migrations; clients are spread over them.
    servers: list[ServerProcess] = []
    metrics_ports: list[int] = []
    for number in range(args.processes):
        # --batches: each server's metrics, for its batch sizes (the door's group commit);
        # off by default, since counting every request costs the server a little.
        metrics = []
        if args.batches:
            metrics_ports.append(free_port())
            metrics = ["--metrics-listen", f"127.0.0.1:{metrics_ports[-1]}"]
        server = ServerProcess(db_url, home=home / f"home{number}", signing_key_path=key,
                               lease_ttl=900, heartbeat_interval=300,
                               admin_token=servers[0].admin_token if servers else None,
                               extra_args=[*args.server_arg, *metrics], env=env)
        servers.append(stack.enter_context(server))
    server = servers[0]
    started = int(time.time())
    print(f"[{backend}] server pid(s) {' '.join(str(s.pid) for s in servers)} on "
          f"{' '.join(s.url for s in servers)}; logging in {args.clients[-1]} devices",
          flush=True)
    devices = args.clients[-1]
    license_ids, leases = populate(server.url, server.admin_token, devices, args.licenses)
    writes = LeaseWrites(db_url if backend == "postgres" else None)
    watch = {"server_pids": [s.pid for s in servers],
             "postgres_db": make_url(db_url).database if backend == "postgres" else None}
    rounds: list[list[dict[str, Any]]] = []
    profile = None

    def measure(workload: str, count: int, round_no: int, spy_on: bool,
                rate: float | None = None) -> dict[str, Any]:
        nonlocal profile
        spy = None
        if spy_on and args.py_spy:
            profile = args.out / f"profile-{backend}{_suffix(args)}.txt"
            # --nonblocking: stopping the server for each sample would distort the run.
            spy = subprocess.Popen(
                [args.py_spy, "record", "--gil", "--nonblocking", "--format", "raw",
                 "--rate", "200", "--pid", str(server.pid), "--duration",
                 str(max(1, round(args.warmup + args.duration))), "--output", str(profile)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        load = os.getloadavg()[0]
        written = writes.read()
        batched = batch_counts(metrics_ports)
        result = run_loadgen([s.port for s in servers], workload_clients(workload, leases, count),
                             args.warmup, args.duration, watch, rate)
        if spy is not None:
            spy.wait(timeout=60)
        row = {"backend": backend, "workload": workload, "clients": count,
               "mode": "closed" if rate is None else f"paced {rate:g}/s",
               "round": round_no, "loadavg_1m_before": load, **summary(result)}
        if workload == "heartbeat":
            # Warm-up included, as the lease writes; NaN for a server that does not batch.
            (beats_before, batches_before), (beats, batches) = batched, batch_counts(
                metrics_ports)
            row["heartbeats_per_batch"] = ((beats - beats_before) / (batches - batches_before)
                                           if batches > batches_before else math.nan)
        if written is not None and workload == "heartbeat":
            time.sleep(1.5)  # let the backends report their counts
            # Warm-up included: rows written per heartbeat answered, measured or not.
            row["lease_writes_per_heartbeat"] = (
                ((writes.read() or 0) - written) / max(1, result["answered_total"]))
        print(f"[{backend}] {workload:9} c={count:<4} {row['mode']:12} {row['rps']:7.0f} req/s"
              f"  p50 {row['p50_ms']:7.2f} ms  p99 {row['p99_ms']:7.2f} ms  errors "
              f"{row['errors']}  server {row['server_cpu_us_per_req']:5.0f} us/req  machine "
              f"{row['machine_busy_cores']:.2f} cores", flush=True)
        return row

    for round_no in range(args.rounds):
        rows = []
        order = WORKLOADS if round_no % 2 == 0 else WORKLOADS[::-1]
        for count in ([] if args.paced_only else args.clients):
            # Alternate the order from round to round, so a drift in load favours neither.
            order = WORKLOADS if round_no % 2 == 0 else WORKLOADS[::-1]
            for workload in order:
                rows.append(measure(workload, count, round_no, spy_on=(
                    workload == "heartbeat" and count == args.clients[-1] and round_no == 0)))
        if args.paced:
            for workload in order:
                rows.append(measure(workload, args.clients[-1], round_no, False, args.paced))
        rounds.append(rows)
    crosscheck = []
    if wrk and len(servers) == 1:
        top = args.clients[-1]
        for workload in WORKLOADS:
            row = run_wrk(wrk, server.url, top, args.duration, home,
                          leases if workload == "heartbeat" else None)
            row["workload"] = workload
            crosscheck.append(row)
            print(f"[{backend}] wrk {workload:9} c={top:<4} {row['rps']:8.0f} req/s  "
                  f"p50 {row['p50_ms']:7.2f} ms  p99 {row['p99_ms']:7.2f} ms  "
                  f"non-2xx {row['non_2xx']}", flush=True)
    after = check_after(server.url, server.admin_token, license_ids, devices, started)
    return {"backend": backend, "db": "sqlite (WAL file)" if backend == "sqlite"
            else "postgresql (fresh database)", "rounds": rounds,
            "cells": medians(rounds), "wrk_crosscheck": crosscheck, "after": after,
            "profile": str(profile) if profile else None}


def batch_counts(ports: list[int]) -> tuple[float, float]:
    """Heartbeats batched and batches sent so far, over the servers (0, 0 where a server's
    metrics have no batch-size histogram: an older tree)."""
    beats = batches = 0.0
    for port in ports:
        try:
            page = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        except requests.RequestException:
            continue  # --workers: the supervisor serves its workers' metrics, or none
        for family in text_string_to_metric_families(page):
            for sample in family.samples:
                if sample.name == "seatkeeper_heartbeat_batch_size_sum":
                    beats += sample.value
                elif sample.name == "seatkeeper_heartbeat_batch_size_count":
                    batches += sample.value
    return beats, batches


def _suffix(args: argparse.Namespace) -> str:
    return f"-{args.label}" if args.label else ""


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    wrk = shutil.which("wrk") if args.wrk != "no" else None
    if args.wrk == "yes" and wrk is None:
        print("wrk is not installed (apt-get install wrk); going on without the cross-check",
              file=sys.stderr)
    results: dict[str, Any] = {
        "config": {"backends": args.backends, "clients": args.clients,
                   "duration_s": args.duration, "warmup_s": args.warmup,
                   "rounds": args.rounds, "label": args.label, "server_args": args.server_arg,
                   "licenses": args.licenses, "paced_rps": args.paced,
                   "server_processes": args.processes,
                   "server_pythonpath": args.server_pythonpath,
                   "generator": "bench/loadgen.py (asyncio, 1 process)"},
        "environment": environment(), "stub": [], "backends": []}
    if not args.no_stub:
        print("generator ceiling against a stub server ...", flush=True)
        results["stub"] = stub_ceiling(args.clients, 1.0, min(args.duration, 4.0))
        for s in results["stub"]:
            print(f"[stub] c={s['clients']:<4} {s['rps']:8.0f} req/s  "
                  f"{s['loadgen_cpu_us_per_req']:5.0f} us CPU/req", flush=True)
    with tempfile.TemporaryDirectory(prefix="seatkeeper-bench-") as tmp:
        for backend in args.backends:
            with ExitStack() as stack:
                results["backends"].append(bench_backend(backend, args, stack, Path(tmp), wrk))
    results["environment"]["loadavg_after"] = list(os.getloadavg())
    results["verdicts"] = verdicts(results)
    name = f"server_heartbeat{_suffix(args)}"
    (args.out / f"{name}.json").write_text(json.dumps(no_nan(results), indent=2) + "\n")
    table = markdown(results)
    (args.out / f"{name}.md").write_text(table)
    print("\n" + table)
    print(f"wrote {args.out / (name + '.json')} and {args.out / (name + '.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
