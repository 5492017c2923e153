"""A closed-loop HTTP/1.1 load generator on raw asyncio streams, run in its own process.

`python bench/loadgen.py < spec.json > result.json`. The spec names the server, how long to
warm up and to measure, and the requests of each client: client i sends its next request,
waits for the whole response, records the latency, and goes on (round-robin over its own
requests), on its own keep-alive connection, until the deadline. Only requests that start
after the warm-up and finish before the deadline count. Pure standard library: building
each request once as bytes and parsing only the status line and Content-Length keeps the
generator's cost per request far below the server's, which is what lets one Python process
drive 128 clients on a small machine (the benchmark also measures that cost, and the
generator's ceiling against a canned-response stub: `--stub PORT SECONDS`).

Spec (JSON): {"host", "port", "warmup_s", "duration_s", "timeout_s", "watch": {...},
              "rate_per_s": optional, paced instead of closed loop (all clients together),
              "clients": [[request, ...], ...]}: per client, the requests it sends in turn,
              each {"method", "path", "headers": {...}, "body": "", "expect": 200,
                    "must_contain": "optional substring of the body"}
Result (JSON): {"clients", "requests", "answered_total", "errors", "error_kinds",
                "error_samples", "elapsed_s", "rps", "latency_ms": {"p50", "p90", "p99", "max",
                "mean"}, "cpu_s": {"loadgen", "server", "postgres", "machine"}, "cpu_total_s"}
`watch` may name {"server_pids", "postgres_db"} whose CPU to measure over the window;
"ports" (optional) spreads the clients over several servers: client i uses ports[i % n].
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import resource
import sys
import time
from collections import Counter
from typing import Any

MAX_HEADER = 64 * 1024
CANNED_BODY = b'{"status":"ok","time":"2026-01-01T00:00:00Z"}'


def build_request(host: str, port: int, spec: dict[str, Any]) -> bytes:
    body = spec.get("body", "").encode()
    lines = [f"{spec['method']} {spec['path']} HTTP/1.1", f"Host: {host}:{port}",
             f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in spec.get("headers", {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """Status, body and whether the server will close the connection."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length, chunked, close = 0, False, False
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "transfer-encoding" and "chunked" in value.lower():
            chunked = True
        elif name == "connection" and "close" in value.lower():
            close = True
    if not chunked:
        return status, (await reader.readexactly(length) if length else b""), close
    parts = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        parts.append(await reader.readexactly(size + 2))
        if size == 0:
            return status, b"".join(parts), close


def percentile(ordered: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list (q in 0..100)."""
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


class Client:
    def __init__(self, spec: dict[str, Any], requests: list[dict[str, Any]],
                 port: int) -> None:
        self.host, self.port = spec["host"], port
        # (bytes to send, status expected, substring the body must hold or None)
        self.requests = [(build_request(self.host, self.port, r), int(r.get("expect", 200)),
                          r["must_contain"].encode() if r.get("must_contain") else None)
                         for r in requests]
        self.next = 0
        self.answered = 0  # successful responses, warm-up included
        self.timeout = float(spec.get("timeout_s", 30.0))
        self.latencies: list[float] = []
        self.errors: Counter[str] = Counter()
        self.samples: list[str] = []
        self.stream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self.stream is None:
            self.stream = await asyncio.open_connection(self.host, self.port, limit=MAX_HEADER)
        return self.stream

    def _drop(self) -> None:
        if self.stream is not None:
            self.stream[1].close()
            self.stream = None

    def _error(self, kind: str, sample: str) -> None:
        self.errors[kind] += 1
        if len(self.samples) < 3:
            self.samples.append(sample[:300])

    async def once(self) -> bool:
        """One request and its response; False if it failed."""
        payload, expect, must_contain = self.requests[self.next]
        self.next = (self.next + 1) % len(self.requests)
        try:
            reader, writer = await self._connect()
            writer.write(payload)
            status, body, close = await asyncio.wait_for(read_response(reader), self.timeout)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                TimeoutError, ValueError) as exc:
            self._drop()
            self._error(type(exc).__name__, repr(exc))
            return False
        if close:
            self._drop()
        if status != expect:
            self._error(f"HTTP {status}", body.decode("utf-8", "replace"))
            return False
        if must_contain is not None and must_contain not in body:
            self._error("unexpected body", body.decode("utf-8", "replace"))
            return False
        return True

    async def run(self, measure_from: float, deadline: float, interval: float | None = None,
                  first: float = 0.0) -> None:
        """Closed loop (the next request as soon as the answer is in), or paced: one request
        every `interval` seconds from `first` on, its latency counted from when it was due,
        so that a server falling behind shows as latency (no coordinated omission)."""
        clock = time.perf_counter
        due = first
        while True:
            now = clock()
            if interval is not None:
                if due > now:
                    await asyncio.sleep(due - now)
                started, due = due, due + interval
            else:
                started = now
            if started >= deadline:
                break
            ok = await self.once()
            finished = clock()
            self.answered += ok
            if ok and started >= measure_from and finished <= deadline:
                self.latencies.append(finished - started)
            if not ok:
                await asyncio.sleep(0.01)  # an error answer must not become a busy loop
        self._drop()


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    ports = [int(p) for p in spec.get("ports") or [spec["port"]]]
    clients = [Client(spec, requests, ports[index % len(ports)])
               for index, requests in enumerate(spec["clients"])]
    # Connect first, so that connection set-up is not part of anything measured.
    await asyncio.gather(*(client._connect() for client in clients))
    loop_start = time.perf_counter()
    measure_from = loop_start + float(spec["warmup_s"])
    deadline = measure_from + float(spec["duration_s"])
    watch = spec.get("watch", {})
    cpu_before = _cpu_s()
    marks: list[dict[str, Any]] = []

    async def mark() -> None:
        await asyncio.sleep(max(0.0, measure_from - time.perf_counter()))
        marks.append(cpu_sample(watch))

    rate = spec.get("rate_per_s")  # paced: this many requests per second from all clients
    interval = len(clients) / float(rate) if rate else None
    await asyncio.gather(mark(), *(
        client.run(measure_from, deadline, interval,
                   loop_start + (index * interval / len(clients) if interval else 0.0))
        for index, client in enumerate(clients)))
    # The clients stop at the deadline, give or take one response: close enough for CPU shares.
    marks.append(cpu_sample(watch))
    cpu_after = _cpu_s()
    latencies = sorted(x for client in clients for x in client.latencies)
    errors: Counter[str] = Counter()
    for client in clients:
        errors.update(client.errors)
    duration = float(spec["duration_s"])
    ms = [x * 1000 for x in latencies]
    return {
        "clients": len(clients),
        "requests": len(latencies),
        "answered_total": sum(client.answered for client in clients),
        "errors": sum(errors.values()),
        "error_kinds": dict(errors),
        "error_samples": [s for client in clients for s in client.samples][:5],
        "elapsed_s": duration,
        "rps": len(latencies) / duration,
        "latency_ms": {
            "p50": percentile(ms, 50), "p90": percentile(ms, 90), "p99": percentile(ms, 99),
            "max": ms[-1] if ms else math.nan, "mean": sum(ms) / len(ms) if ms else math.nan,
        },
        # CPU seconds spent in the measured window: this process, the server, PostgreSQL's
        # processes and the whole machine (all cores, anything not idle).
        "cpu_s": cpu_delta(marks[0], marks[1]),
        "cpu_total_s": cpu_after - cpu_before,
    }


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _proc_cpu_s(pid: int | str) -> tuple[str, float]:
    """A process's command name and CPU seconds (user + system, all its threads)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            text = handle.read()
    except OSError:
        return "", 0.0
    comm = text[text.find("(") + 1:text.rfind(")")]
    fields = text[text.rfind(")") + 2:].split()
    return comm, (int(fields[11]) + int(fields[12])) / TICK


def _parent(pid: str) -> int:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            text = handle.read()
    except OSError:
        return -1
    return int(text[text.rfind(")") + 2:].split()[1])


def cpu_sample(watch: dict[str, Any]) -> dict[str, Any]:
    """CPU seconds so far of this process, the server, PostgreSQL, and the machine.

    PostgreSQL's share is the backends serving `watch["postgres_db"]` (their command line
    names the database), per process id, so that other databases' work is not counted.
    """
    sample: dict[str, Any] = {"loadgen": _cpu_s(), "server": 0.0, "postgres": {},
                              "machine": math.nan}
    pids = set(watch.get("server_pids", ()))
    if pids and os.path.isdir("/proc"):  # and their worker processes (--workers)
        pids |= {int(entry) for entry in os.listdir("/proc")
                 if entry.isdigit() and _parent(entry) in pids}
    for pid in pids:
        sample["server"] += _proc_cpu_s(pid)[1]
    database = watch.get("postgres_db")
    if database and os.path.isdir("/proc"):
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as handle:
                    cmdline = handle.read().decode("utf-8", "replace")
            except OSError:
                continue
            if cmdline.startswith("postgres:") and f" {database} " in cmdline:
                sample["postgres"][entry] = _proc_cpu_s(entry)[1]
    try:
        with open("/proc/stat", encoding="ascii") as handle:
            ticks = [int(x) for x in handle.readline().split()[1:]]
        # user nice system idle iowait irq softirq steal: busy is all but idle and iowait.
        sample["machine"] = (sum(ticks[:8]) - ticks[3] - ticks[4]) / TICK
    except (OSError, ValueError, IndexError):
        pass
    return sample


def cpu_delta(before: dict[str, Any], after: dict[str, Any]) -> dict[str, float]:
    delta = {key: after[key] - before[key] for key in ("loadgen", "server", "machine")}
    # A backend that came or went in the window cannot be split by time: then no figure.
    same = before["postgres"].keys() == after["postgres"].keys()
    delta["postgres"] = sum(after["postgres"][pid] - seconds
                            for pid, seconds in before["postgres"].items()) if same else math.nan
    return delta


# -- a canned-response stub: the generator's ceiling ---------------------------------------

class _Stub(asyncio.Protocol):
    """Answers every request on a keep-alive connection with the same small 200 response."""

    response = (b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: "
                + str(len(CANNED_BODY)).encode() + b"\r\n\r\n" + CANNED_BODY)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport, self.buffer = transport, b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            # The benchmark's requests in stub mode carry no body.
            self.buffer = self.buffer[end + 4:]
            self.transport.write(self.response)


async def stub_server(port: int, seconds: float) -> None:
    """Serve canned answers on 127.0.0.1:port for at most `seconds`, then stop."""
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_Stub, "127.0.0.1", port)
    print("ready", flush=True)
    async with server:
        await asyncio.sleep(seconds)


def main() -> int:
    if len(sys.argv) == 4 and sys.argv[1] == "--stub":
        asyncio.run(stub_server(int(sys.argv[2]), float(sys.argv[3])))
        return 0
    spec = json.load(sys.stdin)
    result = run_spec(spec)
    json.dump(result, sys.stdout)
    return 0


def run_spec(spec: dict[str, Any]) -> dict[str, Any]:
    result = asyncio.run(run(spec))
    result["pid"] = os.getpid()
    return result


if __name__ == "__main__":
    sys.exit(main())
