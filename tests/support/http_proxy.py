"""An HTTP proxy on 127.0.0.1 that records every request made through it and forwards none.

    with RecordingProxy() as trap:
        env = {"HTTP_PROXY": trap.url, "HTTPS_PROXY": trap.url, "ALL_PROXY": trap.url}
        ...                       # run the agent with that environment
        assert trap.seen == []    # each entry: the request's first line and its headers

It answers every request (CONNECT included) with 502, so a client that did use it
also fails visibly; what it saw, Authorization headers included, is kept for the test.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class ProxiedRequest:
    """One request the proxy received: `GET http://host/path HTTP/1.1`, and its headers."""

    line: str
    headers: dict[str, str]


class RecordingProxy:
    """A proxy trap: listens on a free loopback port, records, answers 502."""

    def __init__(self) -> None:
        self.seen: list[ProxiedRequest] = []
        self._lock = threading.Lock()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port = int(self._listener.getsockname()[1])
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()

    def __enter__(self) -> RecordingProxy:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        with client:
            client.settimeout(5)
            data = b""
            with contextlib.suppress(OSError):
                while b"\r\n\r\n" not in data and len(data) < 65536:
                    chunk = client.recv(65536)
                    if not chunk:
                        break
                    data += chunk
            if not data:
                return
            head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
            headers = dict(line.split(":", 1) for line in head[1:] if ":" in line)
            with self._lock:
                self.seen.append(ProxiedRequest(
                    head[0], {k.strip(): v.strip() for k, v in headers.items()}))
            with contextlib.suppress(OSError):
                client.sendall(b"HTTP/1.1 502 Recording proxy\r\nContent-Length: 0\r\n"
                               b"Connection: close\r\n\r\n")
