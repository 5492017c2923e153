"""The browser login (RFC 8628) that the tray's Log in… and `seatkeeper login --browser` use.

`start` asks the server for a code pair; the person approves the code in a browser; `poll`
asks once whether it was, and keeps the login when it was. `follow` is the loop both front
ends run: poll at the server's interval (slower when told `slow_down`) until an answer
that is final or the code's lifetime is over. Only the agent talks to the server.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from seatkeeper.core import errors
from seatkeeper.core.errors import DeviceLoginAnswer
from seatkeeper.core.sentences import CANCELLED, LOGGED_IN, NO_SERVER
from seatkeeper.service import session as saved
from seatkeeper.service.identity import device_fingerprint, device_platform

if TYPE_CHECKING:
    from seatkeeper.service.daemon import Agent

log = logging.getLogger(__name__)
SLOW_DOWN_STEP_S = 5  # RFC 8628 section 3.5


def _server_url(agent: Agent, server_url: str | None) -> str:
    session = saved.load(agent.paths.data_dir)
    url = server_url or (session.server_url if session else None) or agent.config.server_url
    if not url:
        raise errors.ConfigError(NO_SERVER)
    return url


def start(agent: Agent, server_url: str | None = None) -> dict[str, Any]:
    """A new device login: codes, where to approve it, how often to poll, and the server."""
    from seatkeeper.service.client import Client

    client = Client(_server_url(agent, server_url), ca_bundle=agent.config.ca_bundle)
    try:
        grant = client.device_authorize(fingerprint=device_fingerprint(agent.paths.data_dir),
                                        name=agent.config.device_name,
                                        platform=device_platform())
    finally:
        client.close()
    log.info("browser login started on %s: code %s", client.server_url, grant["user_code"])
    return {**grant, "server_url": client.server_url}


def poll(agent: Agent, server_url: str, device_code: str) -> dict[str, Any]:
    """Ask once: `{result, final, message}`, with the agent's `status` once approved."""
    from seatkeeper.service.client import Client

    client = Client(server_url, ca_bundle=agent.config.ca_bundle)
    try:
        listing = client.key_listing()
        keys = saved.keys_to_pin(listing, agent.config.server_public_key)
        try:
            result = client.device_token(device_code)
        except DeviceLoginAnswer as answer:
            if answer.final:
                log.info("browser login ended without a login: %s", answer.error)
            return {"result": answer.error, "final": answer.final, "message": str(answer)}
    finally:
        client.close()
    status = agent.adopt_login(client.server_url, keys, result, listing)
    return {"result": "approved", "final": True, "status": status.to_json(),
            "message": LOGGED_IN.format(account=result.account.email,
                                        server=client.server_url)}


def follow(grant: dict[str, Any], poll_once: Callable[[], dict[str, Any]], *,
           stopped: Callable[[], bool] = lambda: False,
           sleep: Callable[[float], object] = time.sleep,
           clock: Callable[[], float] = time.monotonic) -> dict[str, Any]:
    """Poll at the interval until a final answer, `stopped()`, or the code expires."""
    interval = float(grant["interval"])
    deadline = clock() + float(grant["expires_in"])
    while not stopped():
        sleep(interval)
        if stopped():
            break
        if clock() > deadline:
            return {"result": "expired_token", "final": True,
                    "message": DeviceLoginAnswer("expired_token").message}
        answer = poll_once()
        if answer["final"]:
            return answer
        if answer["result"] == "slow_down":
            interval += SLOW_DOWN_STEP_S
    return {"result": "cancelled", "final": True, "message": CANCELLED}
