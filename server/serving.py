"""Serving: one process, or with `--workers N` a supervisor and N worker processes on one socket.

With workers, the supervising process does what must happen once: it migrates (or checks)
the schema, makes or checks the signing key and the admin token, runs the reclaim sweep and
serves the metrics, which the workers write through prometheus-client's multiprocess mode
(`PROMETHEUS_MULTIPROC_DIR`, set by cli.main before anything imports prometheus-client).
The workers only serve requests; uvicorn's supervisor restarts one that dies.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import signal
import threading
import time
from pathlib import Path
from typing import Any

from seatkeeper_server import __version__, db, logs, observability, runtime, sweeper
from seatkeeper_server.context import Context
from seatkeeper_server.runtime import StartupError

log = logging.getLogger("seatkeeper.server")
SETTINGS_ENV = "SEATKEEPERD_WORKER_SETTINGS"
METRICS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
_PATHS = ("data_dir", "signing_key", "admin_token_file", "config")


def build_app(args: argparse.Namespace, context: Context) -> Any:
    """The ASGI app of one serving process: routes, load shedding, metrics, access log."""
    from seatkeeper_server.app import create_app

    app: Any = create_app(context)
    if args.metrics_listen or args.access_log:
        app = observability.Observe(app, metrics=bool(args.metrics_listen),
                                    access_log=args.access_log)
    return app


def serve(args: argparse.Namespace, data: Path) -> int:
    import uvicorn

    given = runtime.given_admin_token(args)  # before anything opens: a weak token stops it
    proxies = runtime.forwarded_allow_ips(args.forwarded_allow_ips)
    url = runtime.database_url(args, data)
    if args.workers > 1 and not db.normalise_url(url).startswith("postgresql"):
        raise StartupError(
            f"--workers {args.workers} needs PostgreSQL: SQLite lets one process write at a "
            "time and every seat request writes, so more processes only queue on its lock "
            "(with seconds of waiting in its busy handler). Use --workers 1 with SQLite, or "
            "--db postgresql://... for several workers or replicas.")
    if args.metrics_listen and int(args.metrics_listen.rpartition(":")[2]) == args.port:
        raise StartupError(f"--metrics-listen {args.metrics_listen} must not use the public "
                           f"port {args.port}: metrics are for the monitoring network only")
    context = runtime.open_context(args, data, upgrade=args.migrate)
    runtime.admin_token(context, given, data)
    if args.demo:
        runtime.demo(context, data)
    metrics = f"on http://{args.metrics_listen}/metrics" if args.metrics_listen else "off"
    print(f"Seatkeeper license server {__version__} on http://{args.host}:{args.port} "
          f"(database {runtime.redact(url)}, "
          f"lease TTL {args.lease_ttl} s, heartbeat every {args.heartbeat_interval} s, "
          f"X-Forwarded-For {'trusted from ' + ','.join(proxies) if proxies else 'ignored'}, "
          f"metrics {metrics}, {args.workers} worker process"
          f"{'es' if args.workers > 1 else ''})", flush=True)
    # Forwarded headers only from the proxies the operator named: uvicorn would otherwise
    # trust them from loopback (or its own FORWARDED_ALLOW_IPS), letting anyone on this
    # host pick the address the rate limits count.
    # log_config=None: uvicorn's own loggers go through ours (text or JSON), not its format.
    options: dict[str, Any] = dict(
        host=args.host, port=args.port, access_log=False, log_config=None,
        log_level="warning", timeout_graceful_shutdown=10, proxy_headers=bool(proxies),
        forwarded_allow_ips=proxies or [])
    started = time.monotonic()
    if args.workers == 1:
        _serve_one(args, context, uvicorn.Config(build_app(args, context), **options))
    else:
        _serve_workers(args, data, context, uvicorn.Config(
            "seatkeeper_server.serving:worker_app", factory=True, workers=args.workers,
            **options))
    log.info("stopped after %.0f s", time.monotonic() - started)
    return 0


def _start_metrics(args: argparse.Namespace, context: Context) -> None:
    try:
        observability.start_metrics(args.metrics_listen, context)
    except OSError as exc:
        raise StartupError(f"cannot serve metrics on {args.metrics_listen}: "
                           f"{exc.strerror or exc}") from None


def _serve_one(args: argparse.Namespace, context: Context, config: Any) -> None:
    import uvicorn

    if args.metrics_listen:
        _start_metrics(args, context)
    # uvicorn finishes the requests in flight on SIGTERM/SIGINT, then raises the signal again
    # for the handler it found in place: a quiet one lets the process exit 0 (not killed by
    # SIGTERM, nor a KeyboardInterrupt traceback on Ctrl+C).
    found = ({sig: signal.signal(sig, lambda *_: None) for sig in (signal.SIGTERM, signal.SIGINT)}
             if threading.current_thread() is threading.main_thread() else {})
    try:
        uvicorn.Server(config).run()
    finally:
        for sig, handler in found.items():
            signal.signal(sig, handler)


def _serve_workers(args: argparse.Namespace, data: Path, context: Context,
                   config: Any) -> None:
    from seatkeeper_server.workers import Workers, reuseport_sockets

    try:
        sockets = reuseport_sockets(args.host, args.port, args.workers)
    except OSError as exc:
        raise StartupError(f"cannot listen on {args.host}:{args.port}: "
                           f"{exc.strerror or exc}") from None
    os.environ[SETTINGS_ENV] = json.dumps(
        {**{k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
         "data_dir": str(data)})
    if args.metrics_listen:
        _start_metrics(args, context)
    thread, stop = sweeper.start(context)
    try:
        # It stops on SIGTERM/SIGINT: the workers finish their requests, then it returns.
        Workers(config, sockets).run()
    finally:
        stop.set()
        thread.join(timeout=10)
        for sock in sockets:
            sock.close()
        if os.environ.get(METRICS_DIR_ENV):
            shutil.rmtree(os.environ[METRICS_DIR_ENV], ignore_errors=True)


def worker_app() -> Any:
    """A worker's app (uvicorn calls this in each worker process): the supervisor's settings,
    no sweep, no migration (the supervisor brought the schema up before starting it)."""
    settings = json.loads(os.environ[SETTINGS_ENV])
    args = argparse.Namespace(**{k: Path(v) if k in _PATHS and v is not None else v
                                 for k, v in settings.items()})
    logs.configure(args.log_format)
    context = runtime.open_context(args, args.data_dir, announce=False, sweep=False)
    return build_app(args, context)
