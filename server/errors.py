"""The server's error tree: one class per protocol error `code`.

    ApiError                        (status, code, message, details)
     ├── InvalidRequest             400 INVALID_REQUEST (also 405, 413)
     ├── Unauthenticated            401 UNAUTHENTICATED
     ├── Forbidden                  403 FORBIDDEN
     ├── NoLicense                  403 NO_LICENSE
     ├── LicenseExpired             403 LICENSE_EXPIRED
     ├── SupportExpired             403 SUPPORT_EXPIRED
     ├── RemoteDeactivationDisabled 403 REMOTE_DEACTIVATION_DISABLED
 ├── BorrowNotAllowed           403 BORROW_NOT_ALLOWED
     ├── NotFound                   404 NOT_FOUND
     ├── SeatLimitReached           409 SEAT_LIMIT_REACHED
     ├── ActiveDeviceExists         409 ACTIVE_DEVICE_EXISTS
     ├── LeaseExpired               410 LEASE_EXPIRED
     ├── LeaseRevoked               410 LEASE_REVOKED
     ├── RateLimited                429 RATE_LIMITED (Retry-After)
     └── Unavailable                503 UNAVAILABLE
"""

from __future__ import annotations

from typing import Any, ClassVar

from seatkeeper_server.text import Text


class ApiError(Exception):
    """A refusal the client can act on; rendered as the protocol's error body.

    Its `message` is English, always (the API's JSON is not translated); given as a Text,
    the portal and the console also show it in the reader's language (`text`).
    """

    status: ClassVar[int] = 500
    code: ClassVar[str] = "INTERNAL"

    def __init__(self, message: str | Text, details: dict[str, Any] | None = None,
                 *, status: int | None = None, headers: dict[str, str] | None = None) -> None:
        english = message.english() if isinstance(message, Text) else message
        super().__init__(english)
        self.message = english
        self.text = message if isinstance(message, Text) else None
        self.details = details or {}
        self.headers = headers or {}
        if status is not None:
            self.status = status  # type: ignore[misc]

    def body(self) -> dict[str, Any]:
        """The JSON body PROTOCOL.md prescribes."""
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class InvalidRequest(ApiError):
    status, code = 400, "INVALID_REQUEST"


class Unauthenticated(ApiError):
    status, code = 401, "UNAUTHENTICATED"


class Forbidden(ApiError):
    status, code = 403, "FORBIDDEN"


class NoLicense(ApiError):
    status, code = 403, "NO_LICENSE"


class LicenseExpired(ApiError):
    status, code = 403, "LICENSE_EXPIRED"


class SupportExpired(ApiError):
    status, code = 403, "SUPPORT_EXPIRED"


class RemoteDeactivationDisabled(ApiError):
    status, code = 403, "REMOTE_DEACTIVATION_DISABLED"


class BorrowNotAllowed(ApiError):
    status, code = 403, "BORROW_NOT_ALLOWED"


class NotFound(ApiError):
    status, code = 404, "NOT_FOUND"


class SeatLimitReached(ApiError):
    status, code = 409, "SEAT_LIMIT_REACHED"


class ActiveDeviceExists(ApiError):
    status, code = 409, "ACTIVE_DEVICE_EXISTS"


class LeaseExpired(ApiError):
    status, code = 410, "LEASE_EXPIRED"


class LeaseRevoked(ApiError):
    status, code = 410, "LEASE_REVOKED"


class RateLimited(ApiError):
    status, code = 429, "RATE_LIMITED"


class Unavailable(ApiError):
    status, code = 503, "UNAVAILABLE"
