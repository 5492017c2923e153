"""Transport rules: which server addresses are allowed, and requests failures as our errors."""

from __future__ import annotations

import http.client
import ipaddress
import re
import socket
import ssl
from collections.abc import Iterator
from urllib.parse import urlsplit

import requests
import urllib3.exceptions
from seatkeeper.core.errors import (
    ConfigError,
    ConnectionRefused,
    ConnectionReset,
    InsecureServerURL,
    MalformedResponse,
    NetworkError,
    SeatkeeperError,
    Timeout,
    TLSError,
)


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 (also IPv4-mapped) and `localhost` are this computer."""
    host = host.strip("[]").rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def check_server_url(url: str) -> str:
    """The server address without a trailing slash; plain http only to loopback hosts."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{url!r} is not a server address; write it like "
                          "https://licenses.example.com.")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise InsecureServerURL(
            f"The server address {url} uses plain http:// to {parts.hostname}, which is not "
            "this computer; the login and seat would travel unencrypted.")
    return url.strip().rstrip("/")


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """The exception, what it wraps (`reason`, args, cause, context), depth first."""
    seen: set[int] = set()
    stack: list[BaseException] = [exc]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        linked = [getattr(current, "reason", None), current.__cause__, current.__context__,
                  *current.args]
        stack.extend(item for item in linked if isinstance(item, BaseException))


# On Windows truststore reports the CryptoAPI policy's CERT_E_* code, not OpenSSL's words.
WINDOWS_CERT_ERRORS = {
    0x800B010F: "it was issued for another host name",
    0x800B0109: "it comes from a certificate authority this computer does not trust",
    0x800B0101: "it has expired or is not valid yet",
    0x800B010C: "it has been revoked",
    0x800B0111: "it was explicitly marked untrusted",
    0x800B0110: "it is not meant for a web server",
}


def certificate_detail(detail: str) -> str:
    """Why a certificate failed, in words: OpenSSL's reason, or a Windows CERT_E_* code's."""
    code = re.search(r"0x([0-9a-fA-F]{8})", detail)
    if code is not None and int(code.group(1), 16) in WINDOWS_CERT_ERRORS:
        return WINDOWS_CERT_ERRORS[int(code.group(1), 16)]
    return detail.split("] ")[-1]


def map_request_error(exc: requests.RequestException, server: str,
                      timeout: tuple[float, float]) -> SeatkeeperError:
    """One requests/urllib3 failure -> the matching class of the error tree."""
    causes = list(_causes(exc))

    def has(*kinds: type[BaseException]) -> bool:
        return any(isinstance(cause, kinds) for cause in causes)

    if has(requests.exceptions.SSLError, ssl.SSLError, urllib3.exceptions.SSLError):
        detail = next((str(c) for c in causes if isinstance(c, ssl.SSLCertVerificationError)),
                      "")
        return TLSError(f"The certificate of {server} is not trusted"
                        + (f" ({certificate_detail(detail)})." if detail else "."))
    if has(ConnectionRefusedError):
        return ConnectionRefused(f"Nothing answers at {server} (connection refused).")
    if has(socket.gaierror, urllib3.exceptions.NameResolutionError):
        return NetworkError(f"The name of {server} cannot be resolved; check the address "
                            "and your Internet connection.")
    # urllib3's NewConnectionError subclasses ConnectTimeoutError, yet is no timeout.
    failed = next((c for c in causes if isinstance(c, urllib3.exceptions.NewConnectionError)),
                  None)
    if failed is not None:
        reason = next((c.strerror for c in causes if isinstance(c, OSError) and c.strerror),
                      None)
        return NetworkError(f"Cannot connect to {server}"
                            + (f" ({reason})." if reason else "."))
    if has(requests.exceptions.ConnectTimeout, urllib3.exceptions.ConnectTimeoutError):
        return Timeout(f"Connecting to {server} took more than {timeout[0]:g} s.")
    if has(requests.exceptions.ReadTimeout, urllib3.exceptions.ReadTimeoutError,
           TimeoutError, socket.timeout):
        return Timeout(f"{server} did not answer within {timeout[1]:g} s.")
    if has(requests.exceptions.ProxyError):
        return NetworkError(f"The proxy refused to connect to {server}; check the proxy "
                            "settings (HTTPS_PROXY, system proxy).")
    if any(isinstance(c, http.client.BadStatusLine | http.client.LineTooLong)
           and not isinstance(c, http.client.RemoteDisconnected) for c in causes):
        return MalformedResponse(f"{server} sent an answer that is not HTTP.")
    if has(ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected,
           http.client.IncompleteRead, urllib3.exceptions.ProtocolError,
           requests.exceptions.ChunkedEncodingError):
        return ConnectionReset(f"The connection to {server} broke off before the answer "
                               "was complete.")
    if has(requests.exceptions.ContentDecodingError, requests.exceptions.InvalidHeader,
           http.client.HTTPException):
        return MalformedResponse(f"{server} sent an answer that is not valid HTTP.")
    return NetworkError(f"{server} could not be reached: {type(exc).__name__}.")
