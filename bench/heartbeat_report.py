"""Summaries, medians, verdicts and the Markdown table of the heartbeat benchmark's results."""

from __future__ import annotations

import datetime as dt
import math
import os
import platform
import statistics
from pathlib import Path
from typing import Any

TARGET_RATIO = 0.5
TARGET_P99_MS = 50.0


def per_request(result: dict[str, Any], who: str) -> float:
    """Microseconds of CPU `who` spent per measured request."""
    if not result["requests"]:
        return math.nan
    return result["cpu_s"].get(who, math.nan) / result["requests"] * 1e6


def summary(result: dict[str, Any]) -> dict[str, Any]:
    cpu, lat = result["cpu_s"], result["latency_ms"]
    seconds = result["elapsed_s"]
    return {
        "requests": result["requests"], "errors": result["errors"],
        "error_kinds": result["error_kinds"], "error_samples": result["error_samples"],
        "rps": result["rps"], "p50_ms": lat["p50"], "p90_ms": lat["p90"], "p99_ms": lat["p99"],
        "max_ms": lat["max"], "mean_ms": lat["mean"],
        "server_cpu_us_per_req": per_request(result, "server"),
        "postgres_cpu_us_per_req": per_request(result, "postgres"),
        "loadgen_cpu_us_per_req": per_request(result, "loadgen"),
        "server_cores": cpu.get("server", math.nan) / seconds,
        "postgres_cores": cpu.get("postgres", math.nan) / seconds,
        "loadgen_cores": cpu.get("loadgen", math.nan) / seconds,
        "machine_busy_cores": cpu.get("machine", math.nan) / seconds,
    }


def medians(rounds: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
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
              "per heartbeat | heartbeats per batch |",
              "| --- | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for backend in results["backends"]:
        for c in backend["cells"]:
            pg_us = _f(c["postgres_cpu_us_per_req"]) if backend["backend"] == "postgres" else "-"
            lines.append(
                f"| {backend['backend']} | {c['clients']} | {c['workload']} | {c['mode']} | "
                f"{_f(c['server_cpu_us_per_req'])} | {pg_us} | "
                f"{_f(c['loadgen_cpu_us_per_req'])} | {_f(c['server_cores'], 2)} | "
                f"{_f(c['loadgen_cores'], 2)} | {_f(c['machine_busy_cores'], 2)} | "
                f"{_f(c.get('lease_writes_per_heartbeat', math.nan), 2)} | "
                f"{_f(c.get('heartbeats_per_batch', math.nan), 1)} |")
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


def no_nan(value: Any) -> Any:
    """JSON has no NaN: a measurement that could not be taken is null."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: no_nan(v) for k, v in value.items()}
    if isinstance(value, list):
        return [no_nan(v) for v in value]
    return value


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
