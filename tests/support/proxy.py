"""A loopback TCP proxy between agent and server that a test can cut, stall or reset.

    proxy = FaultProxy(upstream_port)      # listens on 127.0.0.1:proxy.port
    proxy.cut()        # drop every connection; new ones are refused (port closed)
    proxy.stall()      # accept connections, forward nothing (timeouts must fire)
    proxy.reset()      # accept, then reset each connection (RST) once a request arrives
    proxy.restore()    # forward again

Beyond the TCP faults, answers a person can name:

    proxy.respond(500, b"oops")            # every request gets this canned HTTP answer
    proxy.busy(retry_after=3)  # as a server shedding load: 503 UNAVAILABLE + Retry-After,
                               # health forwarded (the server exempts it); `shed` lists them
    proxy.truncate()   # forward the request, relay half the answer, then reset (RST)

With `tls=` (a server-side `ssl.SSLContext`) the proxy terminates TLS: the agent
speaks HTTPS to `proxy.url` and the upstream gets plain HTTP.

Every request it forwards to the server is counted where it happens, on the wire:

    proxy.forwarded("DELETE", "/v1/seats/L1")           # requests that reached the server
    proxy.forwarded("POST", "/v1/auth/logout", token)   # ... carrying this bearer token
"""

from __future__ import annotations

import contextlib
import json
import re
import select
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

Mode = Literal["pass", "cut", "stall", "reset", "respond", "truncate", "busy"]
EXEMPT_FROM_SHEDDING = ("/v1/health", "/v1/ready", "/v1/keys")  # as server/shedding.py
MAX_MESSAGE = 1 << 20


@dataclass(frozen=True)
class Forwarded:
    """One request the proxy passed on to the server: method, path (no query), bearer."""

    method: str
    path: str
    bearer: str | None


class RequestReader:
    """Splits one connection's client-to-server bytes into requests (keep-alive aware)."""

    def __init__(self, record: Callable[[Forwarded], None]) -> None:
        self._record = record
        self._buffer = b""
        self._body_left = 0

    def feed(self, data: bytes) -> None:
        self._buffer += data
        while True:
            if self._body_left:
                taken = min(self._body_left, len(self._buffer))
                self._buffer, self._body_left = self._buffer[taken:], self._body_left - taken
                if self._body_left:
                    return
            head, found, rest = self._buffer.partition(b"\r\n\r\n")
            if not found:
                return
            self._buffer = rest
            lines = head.decode("latin-1").split("\r\n")
            parts = lines[0].split(" ")
            headers = {k.strip().lower(): v.strip() for k, _, v in
                       (line.partition(":") for line in lines[1:])}
            self._body_left = int(headers.get("content-length") or 0)
            auth = headers.get("authorization", "")
            self._record(Forwarded(parts[0], parts[1].split("?")[0] if len(parts) > 1 else "",
                                   auth[7:] if auth.startswith("Bearer ") else None))


class FaultProxy:
    """Forwards 127.0.0.1:port to 127.0.0.1:upstream_port, with faults on demand."""

    def __init__(self, upstream_port: int, port: int = 0,
                 tls: ssl.SSLContext | None = None) -> None:
        self.upstream_port = upstream_port
        self.mode: Mode = "pass"
        self.tls = tls
        self.canned = b""
        self._lock = threading.Lock()
        self._conns: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self._closed = False
        self.port = self._listen(port)
        self.accepted = 0
        self.requests: list[Forwarded] = []
        self.shed: list[tuple[float, Forwarded]] = []  # (time.monotonic(), request) in busy()

    def forwarded(self, method: str, path: str, bearer: str | None = None) -> int:
        """How many `method path` requests (with this bearer token, if given) reached the
        server through this proxy so far."""
        with self._lock:
            return sum(1 for seen in self.requests if seen.method == method
                       and seen.path == path and (bearer is None or seen.bearer == bearer))

    def _count(self, request: Forwarded) -> None:
        with self._lock:
            self.requests.append(request)

    @property
    def url(self) -> str:
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

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

    def respond(self, status: int, body: bytes = b"",
                content_type: str = "application/json") -> None:
        """Answer every request with `status` and `body` (and close), as a broken server."""
        head = (f"HTTP/1.1 {status} Canned\r\nContent-Type: {content_type}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n")
        with self._lock:
            self.canned = head.encode("ascii") + body
        self._set("respond")
        self._drop_all()

    def busy(self, retry_after: int) -> None:
        """Answer as a server shedding load: every request but health, ready and keys gets
        503 UNAVAILABLE with `Retry-After: retry_after` (noted in `shed` with the time it
        came); those three are forwarded, as the real server exempts them."""
        body = json.dumps({"error": {"code": "UNAVAILABLE", "message": "The server is busy.",
                                     "details": {}}}).encode()
        head = (f"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                f"Retry-After: {retry_after}\r\nContent-Length: {len(body)}\r\n"
                "Connection: close\r\n\r\n")
        with self._lock:
            self.canned = head.encode("ascii") + body
        self._set("busy")
        self._drop_all()

    def truncate(self) -> None:
        """Forward each request; relay the answer's head and half its body, then reset."""
        self._set("truncate")
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
        if self.tls is not None:
            try:
                client.settimeout(10)
                tls_client = self.tls.wrap_socket(client, server_side=True)
                tls_client.settimeout(None)
            except (OSError, ssl.SSLError):
                _hard_close(client)  # the agent refused our certificate, or went away
                return
            with self._lock:
                self._conns.discard(client)
                self._conns.add(tls_client)
            client = tls_client
        mode = self.mode
        if mode == "stall":
            return  # keep the socket open and silent until the test drops it
        if mode == "reset":
            with contextlib.suppress(OSError):
                client.recv(65536)
            _hard_close(client)
            return
        if mode == "respond":
            self._answer_canned(client)
            return
        if mode == "busy":
            self._answer_busy(client)
            return
        try:
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=5)
        except OSError:
            _hard_close(client)
            return
        upstream.settimeout(None)
        with self._lock:
            self._conns.add(upstream)
        if mode == "truncate":
            self._relay_half(client, upstream)
            return
        self._pump(client, upstream)

    def _answer_canned(self, client: socket.socket) -> None:
        try:
            if _read_message(client) is not None:
                client.sendall(self.canned)
        except OSError:
            pass
        self._close_after_answer(client)

    def _close_after_answer(self, client: socket.socket) -> None:
        """End a one-answer connection: let the client read the answer and close first."""
        with contextlib.suppress(OSError):
            client.shutdown(socket.SHUT_WR)
        with contextlib.suppress(OSError):
            client.settimeout(5)
            client.recv(1)
        with self._lock:
            self._conns.discard(client)
        with contextlib.suppress(OSError):
            client.close()

    def _answer_busy(self, client: socket.socket) -> None:
        """One request per connection: the exempt ones relayed, the rest shed."""
        try:
            request = _read_message(client)
            if request is None:
                self._close_after_answer(client)
                return
            seen: list[Forwarded] = []
            RequestReader(seen.append).feed(request)
            if seen and seen[0].path in EXEMPT_FROM_SHEDDING:
                with socket.create_connection(("127.0.0.1", self.upstream_port),
                                              timeout=5) as upstream:
                    upstream.sendall(request)
                    self._count(seen[0])
                    answer = _read_message(upstream) or b""
                client.sendall(answer)
            else:
                with self._lock:
                    self.shed.extend((time.monotonic(), one) for one in seen)
                client.sendall(self.canned)
        except OSError:
            pass
        self._close_after_answer(client)

    def _relay_half(self, client: socket.socket, upstream: socket.socket) -> None:
        try:
            request = _read_message(client)
            if request is None:
                return
            upstream.sendall(request)
            RequestReader(self._count).feed(request)
            answer = _read_message(upstream) or b""
            head, _, body = answer.partition(b"\r\n\r\n")
            client.sendall(head + b"\r\n\r\n" + body[: max(1, len(body) // 2)])
        except OSError:
            pass
        finally:
            for sock in (client, upstream):
                with self._lock:
                    self._conns.discard(sock)
                _hard_close(sock)

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        """Relay both ways; what the client (`a`) sends is counted once it is passed on."""
        peers = {a: b, b: a}
        requests = RequestReader(self._count)
        try:
            while self.mode == "pass":
                # A TLS socket may hold decrypted bytes that select() cannot see.
                readable: list[socket.socket] = [
                    s for s in peers if isinstance(s, ssl.SSLSocket) and s.pending()]
                if not readable:
                    readable, _, _ = select.select(list(peers), [], [], 0.2)
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        return
                    peers[sock].sendall(data)
                    if sock is a:
                        requests.feed(data)
        except OSError:
            return
        finally:
            for sock in (a, b):
                with self._lock:
                    self._conns.discard(sock)
                with contextlib.suppress(OSError):
                    sock.close()


def _read_message(sock: socket.socket) -> bytes | None:
    """One HTTP/1.1 message with a Content-Length body (or none); None if the peer closed."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        data += chunk
        if len(data) > MAX_MESSAGE:
            return data
    head, _, body = data.partition(b"\r\n\r\n")
    match = re.search(rb"^content-length:\s*(\d+)", head, re.IGNORECASE | re.MULTILINE)
    length = int(match.group(1)) if match else 0
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


def _hard_close(sock: socket.socket) -> None:
    """Close with SO_LINGER 0: the peer sees a reset, not a clean end of stream."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.close()
