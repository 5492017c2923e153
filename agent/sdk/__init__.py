"""Seatkeeper's SDK for licensed applications: the agent's local API from Python.

Standard library and `cryptography` only (none of the tray's libraries), so an
application can import it on its own. docs/local-api.md has the contract and an example:

    from seatkeeper.sdk import SeatSession

    with SeatSession("PIX4Dmapper", "4.9.0", released="2026-01-15",
                     public_key=SERVER_KEY, on_event=print) as seat:
        if not seat.holding:
            print(seat.seat["message"])
"""

from seatkeeper.sdk.channel import AgentUnavailable, Channel, LocalApiError, find_agent
from seatkeeper.sdk.envelope import EnvelopeExpired, EnvelopeInvalid, check_lease, verify_envelope
from seatkeeper.sdk.keys import TrustedKeys
from seatkeeper.sdk.session import (
    AGENT_LOST,
    EXPIRING,
    LOST,
    OFFLINE,
    ONLINE,
    RECONNECTED,
    REGAINED,
    SeatEvent,
    SeatSession,
)

__all__ = ["AGENT_LOST", "EXPIRING", "LOST", "OFFLINE", "ONLINE", "RECONNECTED", "REGAINED",
           "AgentUnavailable", "Channel", "EnvelopeExpired", "EnvelopeInvalid", "LocalApiError",
           "SeatEvent", "SeatSession", "TrustedKeys", "check_lease", "find_agent",
           "verify_envelope"]
