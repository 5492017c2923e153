"""The seat's states (DESIGN.md), alone in a module: the tray's first icon needs only them."""

from __future__ import annotations

from enum import StrEnum


class SeatState(StrEnum):
    """The one state shown at a time (a `str`, so it serializes as its value).

    Values are written out by hand because they are a contract (screen, JSON, logs);
    declaration order is DESIGN.md's precedence.
    """

    LOGOUT_PENDING = "logout_pending"
    SIGNED_OUT = "signed_out"
    RELEASED = "released"
    ACQUIRING = "acquiring"
    ACTIVE = "active"
    OFFLINE = "offline"
    SEAT_LIMIT_REACHED = "seat_limit_reached"
    DISCOVERY = "discovery"
    SUPPORT_EXPIRED = "support_expired"
    LICENSE_EXPIRED = "license_expired"
    REVOKED = "revoked"
    ERROR = "error"
