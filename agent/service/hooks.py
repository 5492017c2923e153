"""What the agent does when the OS shuts down, ends the session, wakes up or reconnects."""

from __future__ import annotations

import logging
import threading
import time

from seatkeeper.config import Config
from seatkeeper.platform import SHUTDOWN_BUDGET_S
from seatkeeper.service.daemon import Agent

log = logging.getLogger("seatkeeper.agent")


class AgentEvents:
    """The platform's `Events`, carried out on an Agent (SIGTERM and SIGHUP use it too)."""

    def __init__(self, agent: Agent, config: Config,
                 budget_s: float = SHUTDOWN_BUDGET_S) -> None:
        self.agent = agent
        self.config = config
        self.budget_s = budget_s
        self._released_for_shutdown = False
        self._lock = threading.Lock()

    def shutting_down(self) -> None:
        """Give the seat back within the budget, keeping the login; queue it if out of time."""
        if not self.config.release_on_shutdown:
            log.info("shutdown: release_on_shutdown is off; the seat is kept until its "
                     "lease runs out")
            return
        borrowed = self.agent.borrowed_until()
        if borrowed is not None:
            log.info("shutdown: the seat is borrowed for offline use until %s; it is kept",
                     borrowed)
            return
        with self._lock:
            if self._released_for_shutdown:
                # logind announced it, then systemd's SIGTERM follows: once is enough, and
                # a second wait on a stalled server would overrun the 3 s to exit.
                log.info("shutdown: the seat was already given back")
                return
            started = time.monotonic()
            delivered = self.agent.release_now("shutdown", self.budget_s)
            self._released_for_shutdown = True
            took = time.monotonic() - started
        if delivered:
            log.info("shutdown: the seat is released (%.2f s); the login is kept", took)
        else:
            log.warning("shutdown: the server did not confirm the release in %.2f s; it "
                        "waits in the outbox for the next start", took)

    def shutdown_cancelled(self) -> None:
        with self._lock:
            if not self._released_for_shutdown:
                return
            self._released_for_shutdown = False
        log.info("shutdown cancelled: asking for a seat again")
        self.agent.acquire()

    def resumed(self) -> None:
        log.info("resumed from sleep: heartbeat now")
        self.agent.resumed()

    def network_changed(self) -> None:
        log.info("the network changed: trying what waits for the server")
        self.agent.connectivity_hint()
