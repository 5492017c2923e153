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
import datetime as dt
import json
import math
import os
import platform
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import psycopg
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.engine import make_url

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from tests.support import pg  # noqa: E402
from tests.support.procs import ServerProcess, free_port  # noqa: E402

LOADGEN = Path(__file__).with_name("loadgen.py")
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
WORKLOADS = ("health", "heartbeat")
TARGET_RATIO = 0.5
TARGET_P99_MS = 50.0
APP = {"name": "PIX4Dmapper", "version": "4.9.0", "release_date": "2025-01-15"}


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
                         "loadgen_cpu_us_per_req": _per_request(result, "loadgen")})
        return rows
    finally:
        stub.terminate()
        stub.wait(timeout=10)


def _per_request(result: dict[str, Any], who: str) -> float:
    """Microseconds of CPU `who` spent per measured request."""
    if not result["requests"]:
        return math.nan
    return result["cpu_s"].get(who, math.nan) / result["requests"] * 1e6


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


# -- the server and its data ---------------------------------------------------------------

def make_signing_key(path: Path) -> None:
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())
    path.write_bytes(pem)
    path.chmod(0o600)


def populate(url: str, admin_token: str, devices: int,
             licenses: int) -> tuple[list[str], list[tuple[str, str]]]:
    """One account with `licenses` licenses of `devices` seats each; `devices` devices, each
    logged in once and holding one lease on every license. Returns the license ids and the
    (lease id, device token) pairs, lease k of device d at index k * devices + d."""
    admin = {"Authorization": f"Bearer {admin_token}"}
    email, password = f"bench-{secrets.token_hex(4)}@example.com", secrets.token_urlsafe(16)
    made = requests.post(f"{url}/v1/admin/accounts", json={"email": email, "password": password},
                         headers=admin, timeout=30)
    made.raise_for_status()
    license_ids = []
    for number in range(licenses):
        lic = requests.post(f"{url}/v1/admin/licenses",
                            json={"account_id": made.json()["id"], "name": f"Bench {number}",
                                  "kind": "subscription", "seats": devices},
                            headers=admin, timeout=30)
        lic.raise_for_status()
        license_ids.append(lic.json()["id"])

    def device(index: int) -> list[tuple[str, str]]:
        with requests.Session() as http:
            login = http.post(f"{url}/v1/auth/password", timeout=120, json={
                "email": email, "password": password,
                "device": {"fingerprint": f"bench-fp-{index:04d}", "name": f"bench-{index:04d}",
                           "platform": "linux"}})
            login.raise_for_status()
            token = login.json()["token"]
            held = []
            for license_id in license_ids:
                seat = http.post(f"{url}/v1/seats", timeout=60,
                                 json={"license_id": license_id, "app": APP},
                                 headers={"Authorization": f"Bearer {token}"})
                if seat.status_code != 201:
                    raise RuntimeError(f"acquire {index}: HTTP {seat.status_code} "
                                       f"{seat.text[:300]}")
                held.append((seat.json()["lease"]["lease_id"], token))
            return held

    # Logins verify argon2 hashes on the server: a few at a time is as fast as it gets.
    with ThreadPoolExecutor(max_workers=4) as pool:
        per_device = list(pool.map(device, range(devices)))
    return license_ids, [per_device[d][k] for k in range(licenses) for d in range(devices)]


def check_after(url: str, admin_token: str, license_ids: list[str], devices: int,
                started: int) -> dict[str, Any]:
    """Every lease still live and renewed during the run; no seat lost or gained."""
    live, used, total, beats = 0, 0, 0, []
    for license_id in license_ids:
        got = requests.get(f"{url}/v1/admin/licenses/{license_id}", timeout=30,
                           headers={"Authorization": f"Bearer {admin_token}"})
        got.raise_for_status()
        body = got.json()
        live += len(body["leases"])
        used += body["seats_used"]
        total += body["seats_total"]
        beats += [lease["last_heartbeat_at"] for lease in body["leases"]]
    return {"licenses": len(license_ids), "seats_total": total, "seats_used": used,
            "live_leases": live, "leases": devices * len(license_ids),
            "oldest_heartbeat_at": min(beats) if beats else None,
            "run_started_at": dt.datetime.fromtimestamp(started, dt.UTC)
            .strftime("%Y-%m-%dT%H:%M:%SZ")}


def workload_clients(workload: str, leases: list[tuple[str, str]],
                     count: int) -> list[list[dict[str, Any]]]:
    """Per client, the requests it sends in turn: health, or heartbeats of its own leases
    (lease j goes to client j mod count, so no two clients share a lease)."""
    if workload == "health":
        return [[{"method": "GET", "path": "/v1/health", "must_contain": '"ok"'}]] * count
    return [[{"method": "POST", "path": f"/v1/seats/{lease_id}/heartbeat",
              "headers": {"Authorization": f"Bearer {token}"}, "must_contain": lease_id}
             for lease_id, token in leases[client::count]]
            for client in range(count)]


class LeaseWrites:
    """PostgreSQL only: rows updated in `leases`, from the statistics views (approximate:
    backends report their counts within about a second)."""

    def __init__(self, db_url: str | None) -> None:
        self.url = None if db_url is None else make_url(db_url).set(
            drivername="postgresql").render_as_string(hide_password=False)

    def read(self) -> int | None:
        if self.url is None:
            return None
        with psycopg.connect(self.url, autocommit=True) as conn:
            row = conn.execute("SELECT n_tup_upd FROM pg_stat_user_tables "
                               "WHERE relname = 'leases'").fetchone()
        return None if row is None else int(row[0])


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
    for number in range(args.processes):
        server = ServerProcess(db_url, home=home / f"home{number}", signing_key_path=key,
                               lease_ttl=900, heartbeat_interval=300,
                               admin_token=servers[0].admin_token if servers else None,
                               extra_args=args.server_arg, env=env)
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
        result = run_loadgen([s.port for s in servers], workload_clients(workload, leases, count),
                             args.warmup, args.duration, watch, rate)
        if spy is not None:
            spy.wait(timeout=60)
        row = {"backend": backend, "workload": workload, "clients": count,
               "mode": "closed" if rate is None else f"paced {rate:g}/s",
               "round": round_no, "loadavg_1m_before": load, **_summary(result)}
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
        for count in args.clients:
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
            "cells": _medians(rounds), "wrk_crosscheck": crosscheck, "after": after,
            "profile": str(profile) if profile else None}


def _summary(result: dict[str, Any]) -> dict[str, Any]:
    cpu, lat = result["cpu_s"], result["latency_ms"]
    seconds = result["elapsed_s"]
    return {
        "requests": result["requests"], "errors": result["errors"],
        "error_kinds": result["error_kinds"], "error_samples": result["error_samples"],
        "rps": result["rps"], "p50_ms": lat["p50"], "p90_ms": lat["p90"], "p99_ms": lat["p99"],
        "max_ms": lat["max"], "mean_ms": lat["mean"],
        "server_cpu_us_per_req": _per_request(result, "server"),
        "postgres_cpu_us_per_req": _per_request(result, "postgres"),
        "loadgen_cpu_us_per_req": _per_request(result, "loadgen"),
        "server_cores": cpu.get("server", math.nan) / seconds,
        "postgres_cores": cpu.get("postgres", math.nan) / seconds,
        "loadgen_cores": cpu.get("loadgen", math.nan) / seconds,
        "machine_busy_cores": cpu.get("machine", math.nan) / seconds,
    }


def _medians(rounds: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    cells = []
    for index, first in enumerate(rounds[0]):
        same = [r[index] for r in rounds]
        cell = {k: v for k, v in first.items() if not isinstance(v, float)}
        cell.pop("round", None)
        for key, value in first.items():
            if isinstance(value, float):
                cell[key] = statistics.median(r[key] for r in same)
        cell["errors"] = sum(r["errors"] for r in same)
        cells.append(cell)
    return cells


# -- reporting -----------------------------------------------------------------------------

def ratios(backend: dict[str, Any], mode: str = "closed") -> list[dict[str, Any]]:
    cells = [c for c in backend["cells"] if (c["mode"] == "closed") == (mode == "closed")]
    by = {(c["workload"], c["clients"]): c for c in cells}
    out = []
    for count in sorted({c["clients"] for c in cells}):
        health, beat = by[("health", count)], by[("heartbeat", count)]
        ratio = beat["rps"] / health["rps"] if health["rps"] else math.nan
        out.append({"clients": count, "health": health, "heartbeat": beat, "ratio": ratio})
    return out


def verdicts(results: dict[str, Any]) -> list[dict[str, Any]]:
    top = results["config"]["clients"][-1]
    rows = []
    for backend in results["backends"]:
        for row in ratios(backend):
            p99 = row["heartbeat"]["p99_ms"]
            rows.append({"backend": backend["backend"], "clients": row["clients"],
                         "mode": "closed", "ratio": row["ratio"],
                         "ratio_ok": row["ratio"] >= TARGET_RATIO, "heartbeat_p99_ms": p99,
                         "p99_ok": p99 < TARGET_P99_MS if row["clients"] == top else None})
        for row in ratios(backend, "paced"):
            p99 = row["heartbeat"]["p99_ms"]
            rows.append({"backend": backend["backend"], "clients": row["clients"],
                         "mode": row["heartbeat"]["mode"], "ratio": None, "ratio_ok": None,
                         "heartbeat_p99_ms": p99, "p99_ok": p99 < TARGET_P99_MS})
    return rows


def _f(value: float, digits: int = 0) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:,.{digits}f}"


def markdown(results: dict[str, Any]) -> str:
    cfg, env = results["config"], results["environment"]
    lines = [
        f"### Heartbeat vs /v1/health{(' - ' + cfg['label']) if cfg['label'] else ''}",
        "",
        f"{env['date']}; {env['cpus']} CPUs ({env['cpu_model']}), Python {env['python']}, "
        f"load average before {env['loadavg_before'][0]:.2f} / after "
        f"{env['loadavg_after'][0]:.2f} (1 min); {cfg['duration_s']:g} s measured after "
        f"{cfg['warmup_s']:g} s warm-up per cell, {cfg['rounds']} round(s) (medians); "
        f"{cfg['clients'][-1]} devices x {cfg['licenses']} licenses = "
        f"{cfg['clients'][-1] * cfg['licenses']} leases shared out among the clients; "
        f"{cfg['server_processes']} server process(es); "
        f"server args: {' '.join(cfg['server_args']) or '(defaults)'}"
        f"{'; PYTHONPATH+=' + cfg['server_pythonpath'] if cfg['server_pythonpath'] else ''}.",
        "",
        "| backend | clients | health req/s | health p50 ms | health p99 ms | heartbeat req/s "
        "| heartbeat p50 ms | heartbeat p99 ms | heartbeat/health | errors |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for backend in results["backends"]:
        for row in ratios(backend):
            h, b = row["health"], row["heartbeat"]
            lines.append(
                f"| {backend['backend']} | {row['clients']} | {_f(h['rps'])} | "
                f"{_f(h['p50_ms'], 2)} | {_f(h['p99_ms'], 2)} | {_f(b['rps'])} | "
                f"{_f(b['p50_ms'], 2)} | {_f(b['p99_ms'], 2)} | {_f(row['ratio'], 2)} | "
                f"{h['errors'] + b['errors']} |")
    paced = [(b["backend"], row) for b in results["backends"] for row in ratios(b, "paced")]
    if paced:
        lines += ["", "Paced (open loop): the largest client count sending a fixed total rate "
                  "together; latency counted from when each request was due:", "",
                  "| backend | clients | rate | health req/s | health p50 ms | health p99 ms | "
                  "heartbeat req/s | heartbeat p50 ms | heartbeat p99 ms | errors |",
                  "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for name, row in paced:
            h, b = row["health"], row["heartbeat"]
            lines.append(
                f"| {name} | {row['clients']} | {b['mode'].removeprefix('paced ')} | "
                f"{_f(h['rps'])} | {_f(h['p50_ms'], 2)} | {_f(h['p99_ms'], 2)} | "
                f"{_f(b['rps'])} | {_f(b['p50_ms'], 2)} | {_f(b['p99_ms'], 2)} | "
                f"{h['errors'] + b['errors']} |")
    lines += ["", "CPU per request in the measured window (microseconds; `machine` = cores busy "
              "on the whole machine, other engineers' work included):", "",
              "| backend | clients | workload | mode | server us/req | postgres us/req | generator "
              "us/req | server cores | generator cores | machine cores | lease rows written "
              "per heartbeat |",
              "| --- | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for backend in results["backends"]:
        for c in backend["cells"]:
            pg_us = _f(c["postgres_cpu_us_per_req"]) if backend["backend"] == "postgres" else "-"
            lines.append(
                f"| {backend['backend']} | {c['clients']} | {c['workload']} | {c['mode']} | "
                f"{_f(c['server_cpu_us_per_req'])} | {pg_us} | "
                f"{_f(c['loadgen_cpu_us_per_req'])} | {_f(c['server_cores'], 2)} | "
                f"{_f(c['loadgen_cores'], 2)} | {_f(c['machine_busy_cores'], 2)} | "
                f"{_f(c.get('lease_writes_per_heartbeat', math.nan), 2)} |")
    lines += ["", f"Targets: heartbeat/health >= {TARGET_RATIO}; heartbeat p99 < "
              f"{TARGET_P99_MS:g} ms at {cfg['clients'][-1]} clients.", ""]
    for v in verdicts(results):
        p99 = "" if v["p99_ok"] is None else (
            f"p99 {_f(v['heartbeat_p99_ms'], 1)} ms {'met' if v['p99_ok'] else 'MISSED'}")
        if v["mode"] != "closed":
            lines.append(f"- {v['backend']}, {v['clients']} clients {v['mode']}: {p99}")
            continue
        lines.append(f"- {v['backend']}, {v['clients']} clients: ratio "
                     f"{_f(v['ratio'], 2)} {'met' if v['ratio_ok'] else 'MISSED'}"
                     f"{'; ' + p99 if p99 else ''}")
    if results["stub"]:
        lines += ["", "Generator ceiling (same generator against a canned-answer stub server "
                  "on the same machine):", "",
                  "| clients | req/s | p50 ms | p99 ms | generator us/req |",
                  "| ---: | ---: | ---: | ---: | ---: |"]
        lines += [f"| {s['clients']} | {_f(s['rps'])} | {_f(s['p50_ms'], 2)} | "
                  f"{_f(s['p99_ms'], 2)} | {_f(s['loadgen_cpu_us_per_req'])} |"
                  for s in results["stub"]]
    crosschecks = [(b["backend"], w) for b in results["backends"] for w in b["wrk_crosscheck"]]
    if crosschecks:
        lines += ["", f"Cross-check with wrk (C, 1 thread, {cfg['clients'][-1]} connections; "
                  "heartbeats round-robin over all the leases):", "",
                  "| backend | workload | req/s | p50 ms | p99 ms | non-2xx |",
                  "| --- | --- | ---: | ---: | ---: | ---: |"]
        lines += [f"| {b} | {w['workload']} | {_f(w['rps'])} | {_f(w['p50_ms'], 2)} | "
                  f"{_f(w['p99_ms'], 2)} | {w['non_2xx']} |" for b, w in crosschecks]
    lines += ["", "After the run: " + "; ".join(
        f"{b['backend']}: {b['after']['live_leases']}/{b['after']['leases']} leases live, "
        f"seats_used {b['after']['seats_used']} of {b['after']['seats_total']}"
        for b in results["backends"]) + "."]
    return "\n".join(lines) + "\n"


def _no_nan(value: Any) -> Any:
    """JSON has no NaN: a measurement that could not be taken is null."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _no_nan(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_no_nan(v) for v in value]
    return value


def _suffix(args: argparse.Namespace) -> str:
    return f"-{args.label}" if args.label else ""


def environment() -> dict[str, Any]:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "cpus": os.cpu_count(), "cpu_model": model, "python": platform.python_version(),
            "platform": platform.platform(), "loadavg_before": list(os.getloadavg())}


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
    (args.out / f"{name}.json").write_text(json.dumps(_no_nan(results), indent=2) + "\n")
    table = markdown(results)
    (args.out / f"{name}.md").write_text(table)
    print("\n" + table)
    print(f"wrote {args.out / (name + '.json')} and {args.out / (name + '.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
