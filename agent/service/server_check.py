"""A license server's address, checked before it is saved: its shape, reachable, the protocol, TLS.

`check_server` takes what a person typed (a missing `https://` is added) and either
returns the address as `server_url` holds it or raises `ServerAddressRejected` whose
message says what is wrong and what to do. It asks the server twice, as the agent
will: `GET /v1/health` (a Seatkeeper server answers `{"status": "ok", ...}`) and
`GET /v1/keys` (its lease-signing keys). TLS is verified as every other request is:
the OS trust store through truststore, plus `ca_bundle`; plain http:// only to this
computer, never through a proxy.
"""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import urlsplit

import requests
from seatkeeper.config import PARSERS
from seatkeeper.core.errors import (
    ConnectionRefused,
    MalformedResponse,
    NetworkError,
    SeatkeeperError,
    ServerUnavailable,
    TLSError,
)
from seatkeeper.core.errors import ServerAddressRejected as Rejected
from seatkeeper.core.sentences import (
    BAD_PORT,
    CHECK_NETWORK,
    CHECK_PORT,
    NO_HOST,
    NO_PASSWORD,
    NO_QUERY,
    NOT_SEATKEEPER,
    NOT_WEB,
    OTHER_KEY,
    OWN_CA,
    PLAIN_HTTP,
    REDIRECTS,
    SERVER_ERROR,
    TYPE_ADDRESS,
    UNUSABLE,
)
from seatkeeper.service.transport import check_server_url, is_loopback, map_request_error

log = logging.getLogger(__name__)

# A person waits for the answer: shorter than the agent's own (5 s, 15 s).
CHECK_TIMEOUT = (5.0, 10.0)
EXAMPLE = "https://licenses.example.com"


def normalise(typed: str) -> str:
    """The typed address as `server_url` holds it, or ServerAddressRejected saying why not."""
    text = shown = typed.strip()
    if not text:
        raise Rejected(TYPE_ADDRESS.format(example=EXAMPLE))
    if "://" not in text:
        text = "https://" + text
    parts = urlsplit(text)
    if parts.scheme.lower() not in ("http", "https"):
        raise Rejected(NOT_WEB.format(address=shown, scheme=parts.scheme, example=EXAMPLE))
    if not parts.hostname or " " in text:
        raise Rejected(NO_HOST.format(address=shown, example=EXAMPLE))
    try:
        parts.port  # noqa: B018 (urllib checks the port only when asked)
    except ValueError:
        raise Rejected(BAD_PORT.format(address=shown)) from None
    if parts.username is not None or parts.password is not None:
        raise Rejected(NO_PASSWORD)
    if parts.query or parts.fragment:
        raise Rejected(NO_QUERY.format(example=EXAMPLE))
    if parts.scheme.lower() == "http" and not is_loopback(parts.hostname):
        raise Rejected(PLAIN_HTTP.format(host=parts.hostname))
    # Scheme and host name are case-blind: written in lower case, as the agent compares them.
    text = f"{parts.scheme.lower()}://{parts.netloc.lower()}{parts.path}"
    try:
        return str(PARSERS["server_url"](check_server_url(text)))
    except (ValueError, SeatkeeperError) as exc:
        raise Rejected(UNUSABLE.format(address=shown, problem=exc)) from None


def _network_problem(exc: SeatkeeperError, url: str, path: str) -> Rejected:
    """A failed request, said for someone who just typed the address."""
    if isinstance(exc, TLSError):
        return Rejected(f"{exc.message} {OWN_CA}")
    if isinstance(exc, ConnectionRefused):
        return Rejected(f"{exc.message} {CHECK_PORT}")
    if isinstance(exc, NetworkError) and not isinstance(exc, MalformedResponse
                                                         | ServerUnavailable):
        return Rejected(f"{exc.message} {CHECK_NETWORK}")
    return _not_seatkeeper(url, f"GET {path}: {exc.message}")


def _not_seatkeeper(url: str, detail: str) -> Rejected:
    return Rejected(NOT_SEATKEEPER.format(address=url, problem=detail, example=EXAMPLE))


def _health(session: requests.Session, url: str) -> None:
    """`GET /v1/health` answers 200 with `{"status": "ok"}`, as the protocol says."""
    try:
        response = session.get(url + "/v1/health", timeout=CHECK_TIMEOUT,
                               allow_redirects=False)
    except requests.RequestException as exc:
        raise _network_problem(map_request_error(exc, url, CHECK_TIMEOUT), url,
                               "/v1/health") from None
    if response.is_redirect:
        where = response.headers.get("Location", "another address")
        raise Rejected(REDIRECTS.format(address=url, where=where))
    if response.status_code >= 500:
        raise Rejected(SERVER_ERROR.format(address=url, status=response.status_code))
    if response.status_code != 200:
        raise _not_seatkeeper(url, f"GET /v1/health answered HTTP {response.status_code}")
    try:
        body = response.json()
    except ValueError:
        raise _not_seatkeeper(url, "GET /v1/health did not answer in JSON") from None
    if not isinstance(body, dict) or body.get("status") != "ok":
        raise _not_seatkeeper(url, "GET /v1/health did not say it is ok")


def check_server(typed: str, *, ca_bundle: Path | None = None,
                 pinned_key: str | None = None,
                 session: requests.Session | None = None) -> str:
    """The typed address, checked against the server itself; `pinned_key`: the configured
    server_public_key, which the server must publish. Raises ServerAddressRejected."""
    from seatkeeper.service.client import Client

    url = normalise(typed)
    client = Client(url, session=session, ca_bundle=ca_bundle, timeout=CHECK_TIMEOUT)
    try:
        _health(client.session, client.server_url)
        try:
            keys = client.keys()
        except SeatkeeperError as exc:
            raise _network_problem(exc, url, "/v1/keys") from None
    finally:
        client.close()
    if not keys:
        raise _not_seatkeeper(url, "it publishes no Ed25519 lease-signing key at /v1/keys")
    if pinned_key is not None and pinned_key not in keys.values():
        raise Rejected(OTHER_KEY.format(address=url))
    log.info("license server checked: %s", url)
    return url
