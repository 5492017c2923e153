"""A loopback TCP proxy between agent and server that a test can cut, stall or reset.

    proxy = FaultProxy(upstream_port)      # listens on 127.0.0.1:proxy.port
    proxy.cut()        # drop every connection; new ones are refused (port closed)
    proxy.stall()      # accept connections, forward nothing (timeouts must fire)
    proxy.reset()      # accept, then reset each connection (RST) once a request arrives
    proxy.restore()    # forward again
"""

from __future__ import annotations

import contextlib
import select
import socket
import struct
import threading
from typing import Literal

Mode = Literal["pass", "cut", "stall", "reset"]


class FaultProxy:
    """Forwards 127.0.0.1:port to 127.0.0.1:upstream_port, with faults on demand."""

    def __init__(self, upstream_port: int, port: int = 0) -> None:
        self.upstream_port = upstream_port
        self.mode: Mode = "pass"
        self._lock = threading.Lock()
        self._conns: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self._closed = False
        self.port = self._listen(port)
        self.accepted = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- control --------------------------------------------------------------------------

    def cut(self) -> None:
        """Connection refused from now on; connections in flight are dropped."""
        with self._lock:
            self.mode = "cut"
            listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        self._drop_all()

    def stall(self) -> None:
        """Connections open but nothing comes back, as behind a dead router."""
        self._set("stall")
        self._drop_all()

    def reset(self) -> None:
        """Each connection is reset as soon as the client has sent something."""
        self._set("reset")
        self._drop_all()

    def restore(self) -> None:
        """Forward again, listening on the same port."""
        with self._lock:
            self.mode = "pass"
            if self._listener is None and not self._closed:
                self._listen(self.port)

    def close(self) -> None:
        self._closed = True
        self.cut()

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- plumbing -------------------------------------------------------------------------

    def _set(self, mode: Mode) -> None:
        with self._lock:
            self.mode = mode
            if self._listener is None and not self._closed:
                self._listen(self.port)

    def _listen(self, port: int) -> int:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen(128)
        self._listener = listener
        threading.Thread(target=self._accept_loop, args=(listener,), daemon=True).start()
        return int(listener.getsockname()[1])

    def _accept_loop(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            self.accepted += 1
            with self._lock:
                self._conns.add(client)
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _drop_all(self) -> None:
        with self._lock:
            conns, self._conns = self._conns, set()
        for conn in conns:
            _hard_close(conn)

    def _serve(self, client: socket.socket) -> None:
        mode = self.mode
        if mode == "stall":
            return  # keep the socket open and silent until the test drops it
        if mode == "reset":
            with contextlib.suppress(OSError):
                client.recv(65536)
            _hard_close(client)
            return
        try:
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=5)
        except OSError:
            _hard_close(client)
            return
        upstream.settimeout(None)
        with self._lock:
            self._conns.add(upstream)
        self._pump(client, upstream)

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        peers = {a: b, b: a}
        try:
            while self.mode == "pass":
                readable, _, _ = select.select(list(peers), [], [], 0.2)
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        return
                    peers[sock].sendall(data)
        except OSError:
            return
        finally:
            for sock in (a, b):
                with self._lock:
                    self._conns.discard(sock)
                with contextlib.suppress(OSError):
                    sock.close()


def _hard_close(sock: socket.socket) -> None:
    """Close with SO_LINGER 0: the peer sees a reset, not a clean end of stream."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.close()
