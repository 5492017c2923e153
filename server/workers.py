"""Worker processes that share the load: one SO_REUSEPORT socket each, under uvicorn's supervisor.

uvicorn's own `--workers` hands every worker the same listening socket. Whichever worker
the kernel wakes first then accepts every connection waiting (asyncio takes up to 100 at a
time), so a burst of new connections, such as a fleet coming back or a load balancer
opening its pool, lands on one worker and stays there on keep-alive. With a socket per
worker, bound with SO_REUSEPORT, the kernel spreads connections over the workers by their
address hash. A dead worker's socket stays open in the supervisor, so the connections the
kernel queues on it wait for its replacement instead of being refused.
"""

from __future__ import annotations

import socket
from typing import Any

from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors.multiprocess import Multiprocess, Process, logger


def reuseport_sockets(host: str, port: int, count: int) -> list[socket.socket]:
    """`count` sockets bound to HOST:PORT with SO_REUSEPORT (OSError if it is taken)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    made: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
            made.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((host, port))
            sock.set_inheritable(True)
    except OSError:
        for sock in made:
            sock.close()
        raise
    return made


class Workers(Multiprocess):
    """uvicorn's supervisor (signals, health checks, restarts), worker i on socket i."""

    def __init__(self, config: Any, sockets: list[socket.socket]) -> None:
        super().__init__(config, sockets)
        self.processes_num = len(sockets)

    def _spawn(self, index: int) -> Process:
        process = Process(self.config, [self.sockets[index]])
        process.start()
        return process

    def init_processes(self) -> None:
        self.processes = [self._spawn(index) for index in range(self.processes_num)]

    def restart_all(self) -> None:
        """SIGHUP: replace each worker on its own socket, the new one ready before the old goes."""
        for index, old in enumerate(self.processes):
            if self.should_exit.is_set():
                return
            new = self._spawn(index)
            if not new.wait_until_ready(self.config.timeout_worker_healthcheck,
                                        self.should_exit):
                new.kill()
                new.join()
                return
            old.terminate()
            old.join()
            self.processes[index] = new

    def keep_subprocess_alive(self) -> None:
        if self.should_exit.is_set():
            return
        for index, process in enumerate(self.processes):
            if process.is_alive(timeout=self.config.timeout_worker_healthcheck):
                continue
            process.kill()
            process.join()
            if process.exitcode == STARTUP_FAILURE or self.should_exit.is_set():
                # A worker that cannot start would fail the same way every time.
                self.should_exit.set()
                return
            logger.warning("worker process %s died; starting another", process.pid)
            self.processes[index] = self._spawn(index)
