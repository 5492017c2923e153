"""The daemon's timed work on APScheduler 3: named one-shot jobs that reschedule themselves.

Each job runs once per `schedule(name, delay)`; a job that wants to run again
schedules itself at the end of its run. Scheduling replaces what was pending for
that name (coalescing kicks), except that a job rescheduling itself with
`keep_sooner` never pushes back a kick that arrived while it was running.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

log = logging.getLogger(__name__)


class Jobs:
    """Named jobs on worker threads; at most one run of a name waits at a time."""

    def __init__(self, functions: dict[str, Callable[[], None]], workers: int = 4) -> None:
        self._functions = functions
        self._lock = threading.Lock()
        self._scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(workers)},
            job_defaults={"coalesce": True, "max_instances": 2, "misfire_grace_time": None},
            timezone=dt.UTC)

    def start(self) -> None:
        self._scheduler.start()

    def stop(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    def schedule(self, name: str, delay_s: float, *, keep_sooner: bool = False) -> None:
        """Run job `name` in `delay_s` seconds (replacing a pending run of it)."""
        run_at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=max(0.0, delay_s))
        with self._lock:
            if not self._scheduler.running:
                return
            pending = self._scheduler.get_job(name)
            if (keep_sooner and pending is not None and pending.next_run_time is not None
                    and pending.next_run_time <= run_at):
                return
            self._scheduler.add_job(self._run, "date", args=(name,), run_date=run_at, id=name,
                                    replace_existing=True)

    def pending(self, name: str) -> dt.datetime | None:
        """When job `name` runs next, or None."""
        job = self._scheduler.get_job(name)
        return None if job is None else job.next_run_time

    def _run(self, name: str) -> None:
        try:
            self._functions[name]()
        except Exception:
            log.exception("job %s failed; it will run again when next scheduled", name)
