"""Test helper: a real HTTP(S) server on 127.0.0.1, in a thread, that can misbehave on cue."""

from __future__ import annotations

import json
import socket
import ssl
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Behaviour = Callable[["Handler"], None]


@dataclass
class Seen:
    """One request as the server received it."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any


class Handler(BaseHTTPRequestHandler):
    """Records the request, then lets the server's behaviour answer it."""

    protocol_version = "HTTP/1.1"
    server: FaultHTTPServer

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        body = json.loads(raw) if raw else None
        self.server.seen.append(Seen(self.command, self.path, dict(self.headers), body))
        behaviour = self.server.routes.get(self.path.split("?")[0], self.server.behaviour)
        behaviour(self)

    do_GET = do_POST = do_PUT = do_DELETE = _handle

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""


class FaultHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    behaviour: Behaviour
    routes: dict[str, Behaviour]
    seen: list[Seen]
    release: threading.Event

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Broken connections are the point of this server; do not print them."""


def reply(status: int, body: Any = None, headers: dict[str, str] | None = None) -> Behaviour:
    """Answer `status` with `body` as JSON (None: no body)."""
    def answer(h: Handler) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        h.send_response(status)
        for name, value in (headers or {}).items():
            h.send_header(name, value)
        if data:
            h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)
    return answer


def raw(data: bytes) -> Behaviour:
    """Write `data` as-is and close: for bodies and answers that are not what they claim."""
    def answer(h: Handler) -> None:
        h.wfile.write(data)
        h.close_connection = True
    return answer


def hang(h: Handler) -> None:
    """Never answer (until the server closes): the client's read timeout must fire."""
    h.server.release.wait(30)
    h.close_connection = True


def reset_mid_response(h: Handler) -> None:
    """Send headers and half a body, then reset the connection (RST, not FIN)."""
    h.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 1000\r\n\r\n{\"status\": \"o")
    h.wfile.flush()
    h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    h.connection.close()
    h.close_connection = True


class FaultServer:
    """`with FaultServer() as server:`; set `server.behaviour` or `server.routes[path]`."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.httpd = FaultHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.behaviour = reply(200, {"status": "ok"})
        self.httpd.routes = {}
        self.httpd.seen = []
        self.httpd.release = threading.Event()
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.scheme = "https" if tls is not None else "http"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,),
                                       daemon=True)

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.httpd.server_address[1]}"

    @property
    def seen(self) -> list[Seen]:
        return self.httpd.seen

    @property
    def routes(self) -> dict[str, Behaviour]:
        return self.httpd.routes

    def set(self, behaviour: Behaviour) -> None:
        self.httpd.behaviour = behaviour

    def __enter__(self) -> FaultServer:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.httpd.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens (connecting is refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
