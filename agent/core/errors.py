"""The agent's error tree: what went wrong talking to the server, in words a person can act on.

    SeatkeeperError                      (message, hint; str() = both)
     ├── ConfigError                     a configuration file or variable is wrong
     │    └── ServerAddressRejected      a typed server address failed its check
     ├── SetByAdministrator              the administrator set this for every user
     ├── StorageError                    the outbox or a data file cannot be used
     ├── DeviceLoginAnswer               the device login's answer that is not a login yet
     ├── NetworkError                    no usable answer from the server (transient)
     │    ├── ConnectionRefused          nothing listens at the server address
     │    ├── ConnectionReset            the connection broke mid-request
     │    ├── Timeout                    connect or read took too long
     │    ├── ServerUnavailable          5xx without a protocol error body
     │    ├── MalformedResponse          not JSON, or JSON of the wrong shape
     │    ├── TLSError              (*)  the certificate is not trusted
     │    ├── BadSignature          (*)  a lease whose signature does not verify
     │    │    ├── UnknownKey       (*)  signed by a key not trusted (yet): `kid`
     │    │    └── ForeignLease     (*)  signed, but for another device or account
     │    └── InsecureServerURL     (*)  plain http:// to a host that is not loopback
     └── Refusal                         the server answered with a protocol error `code`
          ├── InvalidRequest             400 INVALID_REQUEST (also 405, 413)
          ├── Unauthenticated            401 UNAUTHENTICATED
          ├── Forbidden                  403 FORBIDDEN
          ├── NoLicense                  403 NO_LICENSE
          ├── LicenseExpired             403 LICENSE_EXPIRED
          ├── SupportExpired             403 SUPPORT_EXPIRED
          ├── RemoteDeactivationDisabled 403 REMOTE_DEACTIVATION_DISABLED
          ├── NotFound                   404 NOT_FOUND
          ├── SeatLimitReached           409 SEAT_LIMIT_REACHED
          ├── ActiveDeviceExists         409 ACTIVE_DEVICE_EXISTS
          ├── LeaseExpired               410 LEASE_EXPIRED
          ├── LeaseRevoked               410 LEASE_REVOKED
          ├── BorrowNotAllowed           403 BORROW_NOT_ALLOWED
          ├── RateLimited                429 RATE_LIMITED (retry_after)
          └── Unavailable                503 UNAVAILABLE (retry_after)

     LocalRefusal                        the agent itself refuses (the local API's codes)
          ├── InvalidArgument            INVALID_REQUEST
          ├── NotSignedIn                NOT_SIGNED_IN
          ├── NotHolding                 NOT_HOLDING
          ├── NotBorrowed                NOT_BORROWED
          └── Offline                    OFFLINE

(*) `user_action_required`: retrying will not help until someone changes something.
"""

from __future__ import annotations

from typing import Any, ClassVar

from seatkeeper.i18n import N_


class SeatkeeperError(Exception):
    """Root of every error the agent raises on purpose."""

    default_message: ClassVar[str] = N_("Something went wrong.")
    hint: ClassVar[str] = ""
    user_action_required: ClassVar[bool] = False

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.default_message
        super().__init__(self.message)

    def __str__(self) -> str:
        return f"{self.message} {self.hint}".strip()


class ConfigError(SeatkeeperError):
    default_message = N_("The configuration is not valid.")
    user_action_required = True


class ServerAddressRejected(ConfigError):
    """The address typed for the license server is not one to save (the message says why)."""

    default_message = N_("That address is not a Seatkeeper license server.")


class SetByAdministrator(SeatkeeperError):
    default_message = N_("Your administrator set this for every user of this computer.")
    hint = N_("Only an administrator can change it.")
    user_action_required = True


class StorageError(SeatkeeperError):
    default_message = N_("A Seatkeeper data file cannot be used.")
    hint = N_("Check the permissions and free space of the data directory.")
    user_action_required = True


class DeviceLoginAnswer(SeatkeeperError):
    """The device login's token endpoint said no, or not yet (RFC 8628's `error`)."""

    MESSAGES: ClassVar[dict[str, str]] = {
        "authorization_pending": N_("Waiting for the login to be approved in the browser."),
        "slow_down": N_("Waiting for the login to be approved in the browser (polling "
                        "slower)."),
        "access_denied": N_("The login was denied in the browser; this device stays signed "
                            "out."),
        "expired_token": N_("The login code expired before it was approved; this device "
                            "stays signed out. Start the login again for a new code."),
    }

    default_message = N_("The browser login did not complete; this device stays signed out.")

    def __init__(self, error: str = "unknown") -> None:
        super().__init__(self.MESSAGES.get(error, self.default_message))
        self.error = error

    @property
    def final(self) -> bool:
        """True when polling again cannot help: denied, expired, or anything unknown."""
        return self.error not in ("authorization_pending", "slow_down")


class NetworkError(SeatkeeperError):
    default_message = N_("The license server could not be reached.")
    hint = N_("Seatkeeper will try again by itself.")


class ConnectionRefused(NetworkError):
    default_message = N_("The license server refused the connection (nothing is listening).")
    hint = N_("Check the server address; Seatkeeper will try again by itself.")


class ConnectionReset(NetworkError):
    default_message = N_("The connection to the license server broke off.")
    hint = N_("Seatkeeper will try again by itself.")


class Timeout(NetworkError):
    default_message = N_("The license server took too long to answer.")
    hint = N_("Check your Internet connection; Seatkeeper will try again by itself.")


class ServerUnavailable(NetworkError):
    default_message = N_("The license server had an internal problem.")
    hint = N_("Seatkeeper will try again by itself.")

    def __init__(self, message: str | None = None, *, status: int = 500) -> None:
        super().__init__(message)
        self.status = status


class MalformedResponse(NetworkError):
    default_message = N_("The license server sent an answer Seatkeeper cannot read.")
    hint = N_("Check that the server address points at a Seatkeeper license server.")


class TLSError(NetworkError):
    default_message = N_("The license server's certificate is not trusted.")
    hint = N_("Install your organisation's CA certificate in the system, or set ca_bundle "
              "in the configuration.")
    user_action_required = True


class BadSignature(NetworkError):
    default_message = N_("The license server sent a seat lease whose signature does not verify.")
    hint = N_("The server's key does not match the one pinned at login; log out and in again, "
              "or ask your administrator.")
    user_action_required = True


class UnknownKey(BadSignature):
    """A lease signed by a key this device does not trust (yet): `kid` names it."""

    def __init__(self, message: str | None = None, *, kid: str = "") -> None:
        super().__init__(message)
        self.kid = kid


class ForeignLease(BadSignature):
    default_message = N_("The license server sent a seat lease for another device or account.")
    hint = N_("The lease is not trusted; check the server address, or log out and in again.")
    user_action_required = True


class InsecureServerURL(NetworkError):
    default_message = N_("The server address uses plain http:// to a host that is not this "
                         "computer.")
    hint = N_("Use an https:// address.")
    user_action_required = True


class Refusal(SeatkeeperError):
    """The server answered with a protocol error: `code` for programs, `message` for people."""

    code: ClassVar[str] = ""
    default_message = N_("The license server refused the request.")

    def __init__(self, message: str | None = None, details: dict[str, Any] | None = None,
                 *, status: int = 0, code: str | None = None) -> None:
        super().__init__(message)
        self.details: dict[str, Any] = dict(details or {})
        self.status = status
        if code is not None and code != type(self).code:
            self.code = code  # type: ignore[misc]  # an unknown code keeps its own name

    @classmethod
    def from_response(cls, status: int, body: Any,
                      headers: dict[str, str] | None = None) -> SeatkeeperError:
        """Map an HTTP error answer to the matching error (never raises it)."""
        return from_response(status, body, headers)


class InvalidRequest(Refusal):
    code = "INVALID_REQUEST"
    default_message = N_("The license server did not accept the request.")
    hint = N_("This is probably a bug in Seatkeeper; please report it.")


class Unauthenticated(Refusal):
    code = "UNAUTHENTICATED"
    default_message = N_("The license server does not recognise this login.")
    hint = N_("Log in again.")


class Forbidden(Refusal):
    code = "FORBIDDEN"
    default_message = N_("This login may not do that.")


class NoLicense(Refusal):
    code = "NO_LICENSE"
    default_message = N_("Your account has no license.")
    hint = N_("You can use the application in Discovery mode, or ask for a license.")


class LicenseExpired(Refusal):
    code = "LICENSE_EXPIRED"
    default_message = N_("Your subscription has ended.")
    hint = N_("Renew it to use the application again.")


class SupportExpired(Refusal):
    code = "SUPPORT_EXPIRED"
    default_message = N_("Your license's Support & Upgrade ended before this version was released.")
    hint = N_("Use an earlier version, Discovery mode, or another license.")


class RemoteDeactivationDisabled(Refusal):
    code = "REMOTE_DEACTIVATION_DISABLED"
    default_message = N_("Remote device deactivation is switched off for this account.")
    hint = N_("Switch it on while no device holds a seat.")


class NotFound(Refusal):
    code = "NOT_FOUND"
    default_message = N_("The license server does not know that device or seat.")


class SeatLimitReached(Refusal):
    code = "SEAT_LIMIT_REACHED"
    default_message = N_("Every seat of your license is in use on other devices.")
    hint = N_("Log out on one of them, or deactivate it remotely.")


class ActiveDeviceExists(Refusal):
    code = "ACTIVE_DEVICE_EXISTS"
    default_message = N_("Remote deactivation can be switched on only while no device holds a "
                         "seat.")
    hint = N_("Release the seat on every device first.")


class LeaseExpired(Refusal):
    code = "LEASE_EXPIRED"
    default_message = N_("The seat ran out.")
    hint = N_("Seatkeeper asks for a new one by itself.")


class LeaseRevoked(Refusal):
    code = "LEASE_REVOKED"
    default_message = N_("The seat was taken away from this device.")
    hint = N_("Log in again to use it here.")


class BorrowNotAllowed(Refusal):
    code = "BORROW_NOT_ALLOWED"
    default_message = N_("Your license does not allow borrowing a seat for offline use.")
    hint = N_("Its administrator can allow it.")


class LocalRefusal(SeatkeeperError):
    """The agent refuses a request by itself; `code` is the local API's error code."""

    code: ClassVar[str] = "INTERNAL"


class InvalidArgument(LocalRefusal):
    code = "INVALID_REQUEST"
    default_message = N_("The request's arguments are not valid.")


class NotSignedIn(LocalRefusal):
    code = "NOT_SIGNED_IN"
    default_message = N_("This device is not logged in.")
    hint = N_("Log in first (`seatkeeper login`).")


class NotHolding(LocalRefusal):
    code = "NOT_HOLDING"
    default_message = N_("This device holds no seat now.")


class NotBorrowed(LocalRefusal):
    code = "NOT_BORROWED"
    default_message = N_("No seat is borrowed on this device.")


class Offline(LocalRefusal):
    code = "OFFLINE"
    default_message = N_("The license server cannot be reached.")
    hint = N_("Borrow while online, before you go offline.")


class RateLimited(Refusal):
    code = "RATE_LIMITED"
    default_message = N_("Too many attempts.")
    hint = N_("Wait a few minutes and try again.")

    def __init__(self, message: str | None = None, details: dict[str, Any] | None = None,
                 *, status: int = 429, code: str | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(message, details, status=status, code=code)
        self.retry_after = retry_after


class Unavailable(Refusal):
    code = "UNAVAILABLE"
    default_message = N_("The license server cannot serve requests right now.")
    hint = N_("Seatkeeper will try again by itself.")

    def __init__(self, message: str | None = None, details: dict[str, Any] | None = None,
                 *, status: int = 503, code: str | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(message, details, status=status, code=code)
        self.retry_after = retry_after  # the server's Retry-After: busy, or its database down


REFUSALS: dict[str, type[Refusal]] = {
    cls.code: cls
    for cls in (InvalidRequest, Unauthenticated, Forbidden, NoLicense, LicenseExpired,
                SupportExpired, RemoteDeactivationDisabled, NotFound, SeatLimitReached,
                ActiveDeviceExists, LeaseExpired, LeaseRevoked, BorrowNotAllowed, RateLimited,
                Unavailable)
}


def _retry_after(headers: dict[str, str] | None) -> float | None:
    for name, value in (headers or {}).items():
        if name.lower() == "retry-after":
            try:
                return max(0.0, float(value))
            except ValueError:
                return None
    return None


def from_response(status: int, body: Any,
                  headers: dict[str, str] | None = None) -> SeatkeeperError:
    """The error for an HTTP answer `status` with JSON `body` (None when it was not JSON).

    A protocol error body gives its `Refusal` subclass (an unknown code gives a plain
    `Refusal` carrying that code); a 5xx without one is `ServerUnavailable`; anything
    else is `MalformedResponse`.
    """
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and isinstance(error.get("code"), str):
        code: str = error["code"]
        message = error.get("message")
        details = error.get("details")
        message = message if isinstance(message, str) and message else None
        details = details if isinstance(details, dict) else {}
        cls = REFUSALS.get(code, Refusal)
        if cls is RateLimited or cls is Unavailable:
            return cls(message, details, status=status, retry_after=_retry_after(headers))
        return cls(message, details, status=status, code=code)
    if status >= 500:
        return ServerUnavailable(f"The license server answered with HTTP {status}.",
                                 status=status)
    return MalformedResponse(
        f"The license server answered HTTP {status} without a Seatkeeper error body.")


_FAILURE_KINDS: tuple[tuple[type[SeatkeeperError], str], ...] = (
    (ConnectionRefused, "refused"), (ConnectionReset, "reset"), (Timeout, "timeout"),
    (TLSError, "tls"), (BadSignature, "signature"), (MalformedResponse, "malformed"),
    (ServerUnavailable, "unavailable"), (InsecureServerURL, "insecure"),
)


def failure_kind(exc: BaseException) -> str:
    """A short name for a network failure, as `Facts.contact_failure` records it."""
    return next((kind for cls, kind in _FAILURE_KINDS if isinstance(exc, cls)), "network")
