"""Request handlers, and the route table that reads as one table."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Depends, Query, Request, Response, Security
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param
from seatkeeper_server import errors, schemas, security
from seatkeeper_server.context import Context
from seatkeeper_server.services import (
    accounts,
    audit,
    auth,
    device_grant,
    devices,
    limits,
    seats,
    usage,
)
from seatkeeper_server.services.auth import Caller
from seatkeeper_server.timeutil import parse_rfc3339, to_rfc3339
from sqlalchemy.exc import IntegrityError

_device_bearer = HTTPBearer(auto_error=False, scheme_name="deviceToken",
                            description="A device token from a login")
_admin_bearer = HTTPBearer(auto_error=False, scheme_name="adminToken",
                           description="The server operator's admin token")
_release_header = APIKeyHeader(name="Seat-Release-Token", auto_error=False,
                               scheme_name="releaseToken",
                               description="The release token issued with the lease")

DeviceToken = Annotated[HTTPAuthorizationCredentials | None, Security(_device_bearer)]
AdminToken = Annotated[HTTPAuthorizationCredentials | None, Security(_admin_bearer)]
ReleaseToken = Annotated[str | None, Security(_release_header)]
Reason = Annotated[seats.ReleaseReason, Query(description="Why the seat is given back")]


def ctx(request: Request) -> Context:
    context: Context = request.app.state.ctx
    return context


def _token(creds: HTTPAuthorizationCredentials | None) -> str | None:
    return None if creds is None else creds.credentials


def authenticated(request: Request, creds: DeviceToken) -> Caller:
    """Authenticate before the body is looked at (401 comes before 400)."""
    with ctx(request).transaction() as session:
        return auth.device_caller(session, _token(creds))


def admin(request: Request, creds: AdminToken) -> None:
    with ctx(request).transaction() as session:
        auth.require_admin(session, _token(creds))


_PUBLIC = frozenset({"/v1/health", "/v1/ready", "/v1/keys", "/v1/auth/password", "/v1/auth/device",
                     "/v1/auth/device/token"})


def credential_refusal(request: Request) -> errors.ApiError | None:
    """The 401 (or 403) this request's credentials earn, or None if they pass.

    Bad input can be noticed before any handler or dependency runs (malformed JSON, a bad
    query); this lets that 400 wait until the credentials have been checked, as the
    protocol's order has it. A request carrying a release token is left to its handler.
    """
    path = getattr(request.scope.get("route"), "path", None)
    if path is None or path in _PUBLIC or request.headers.get("Seat-Release-Token"):
        return None
    scheme, token = get_authorization_scheme_param(request.headers.get("Authorization"))
    try:
        with ctx(request).transaction() as session:
            if path.startswith("/v1/admin/"):
                auth.require_admin(session, token if scheme.lower() == "bearer" else None)
            else:
                auth.device_caller(session, token if scheme.lower() == "bearer" else None)
    except errors.ApiError as refusal:
        return refusal
    return None


Device = Annotated[Caller, Depends(authenticated)]


# -- public --------------------------------------------------------------------------------

async def health(request: Request) -> dict[str, str]:
    return {"status": "ok", "time": to_rfc3339(ctx(request).now()) or ""}


async def keys(request: Request) -> dict[str, Any]:
    return {"keys": ctx(request).signer.keys()}


def client_address(request: Request) -> str:
    """The address the limits count (forwarded headers only from --forwarded-allow-ips)."""
    return limits.address_key(request.client.host if request.client else None)


def login_password(request: Request, body: schemas.PasswordLogin) -> dict[str, Any]:
    c = ctx(request)
    email = accounts.normalise_email(body.email)
    with c.transaction() as session:
        # Counted as a failure from here on, until the password checks out.
        reservation = limits.reserve_login(session, email, client_address(request), c.now())
        stored = auth.password_hash_for(session, email)
    # argon2 takes tens of milliseconds: never while holding a transaction.
    if not security.verify_password(stored, body.password):
        raise errors.Unauthenticated("The email or the password is wrong.")
    device = body.device
    try:
        try:
            with c.transaction() as session:
                limits.give_back(session, reservation)
                return auth.complete_login(session, email, device.fingerprint, device.name,
                                           device.platform, c.now())
        except IntegrityError:
            # A simultaneous login from the same machine created the device first: join it.
            with c.transaction() as session:
                limits.give_back(session, reservation)
                return auth.complete_login(session, email, device.fingerprint, device.name,
                                           device.platform, c.now())
    except errors.Forbidden:
        # A disabled account: the password was right, so it is not a guess that counts.
        with c.transaction() as session:
            limits.give_back(session, reservation)
        raise


def device_authorize(request: Request, body: schemas.DeviceInfo) -> dict[str, Any]:
    c = ctx(request)
    with c.transaction() as session:
        return device_grant.start(session, body.fingerprint, body.name, body.platform,
                                  c.now(), c.public_url or str(request.base_url), c.grant,
                                  client_address(request))


def device_token(request: Request, body: schemas.DeviceCodeRequest) -> Any:
    c = ctx(request)
    try:
        with c.transaction() as session:
            outcome = device_grant.redeem(session, body.device_code, c.now())
    except IntegrityError:
        # A password login from the same machine created the device first: join it.
        with c.transaction() as session:
            outcome = device_grant.redeem(session, body.device_code, c.now())
    if isinstance(outcome, str):
        return JSONResponse({"error": outcome}, status_code=400,
                            headers={"Cache-Control": "no-store"})
    return outcome


# -- device --------------------------------------------------------------------------------

def logout(request: Request, creds: DeviceToken) -> Response:
    c = ctx(request)
    with c.transaction() as session:
        devices.logout(session, _token(creds), c.now())
    return Response(status_code=204)


def account(request: Request, creds: DeviceToken) -> dict[str, Any]:
    c = ctx(request)
    with c.transaction() as session:
        caller = auth.device_caller(session, _token(creds))
        return accounts.account_json(session, caller.account_id, c.now())


def remote_deactivation(request: Request, caller: Device,
                        body: schemas.RemoteDeactivation) -> dict[str, bool]:
    c = ctx(request)
    with c.transaction() as session:
        auth.still_valid(session, caller)
        return {"enabled": devices.set_remote_deactivation(session, caller, body.enabled,
                                                           c.now())}


def list_devices(request: Request, creds: DeviceToken) -> dict[str, Any]:
    c = ctx(request)
    with c.transaction() as session:
        caller = auth.device_caller(session, _token(creds))
        return {"devices": devices.list_devices(session, caller, c.now())}


def deactivate_device(request: Request, device_id: str, creds: DeviceToken) -> dict[str, Any]:
    c = ctx(request)
    with c.transaction() as session:
        caller = auth.device_caller(session, _token(creds))
        return devices.deactivate(session, caller, device_id, c.now())


def acquire(request: Request, response: Response, caller: Device,
            body: schemas.AcquireRequest) -> dict[str, Any]:
    """Take a seat (201, with the release token), or renew the one this device holds on a
    usable license (200). A seat request never shortens a lease: expires_at becomes
    max(expires_at, now + ttl_s)."""
    c = ctx(request)
    app = seats.AppInfo(body.app.name, body.app.version, body.app.date())
    with c.transaction() as session:
        auth.still_valid(session, caller)
        envelope, created = seats.acquire(session, caller, body.license_id, app, c.now(),
                                          c.terms, c.signer)
    response.status_code = 201 if created else 200
    return envelope


def heartbeat(request: Request, lease_id: str, creds: DeviceToken) -> dict[str, Any]:
    """Renew the lease. A heartbeat never shortens a lease: expires_at becomes
    max(expires_at, now + ttl_s), so a borrowed seat keeps its end; a revoked lease
    answers 410 LEASE_REVOKED with the reason."""
    c = ctx(request)
    return seats.heartbeat(c.connection, _token(creds), lease_id, c.now(), c.terms, c.signer)


def borrow(request: Request, lease_id: str, caller: Device,
           body: schemas.BorrowRequest) -> dict[str, Any]:
    """Keep the seat for offline work: expires_at = borrowed_until = min(until, now +
    max_borrow_s, the license's expiry); borrowing again replaces it. Only this call sets
    an expiry: a later heartbeat or seat request never shortens a lease."""
    c = ctx(request)
    with c.transaction() as session:
        auth.still_valid(session, caller)
        return seats.borrow(session, caller, lease_id, parse_rfc3339(body.until), c.now(),
                            c.terms, c.signer)


def release(request: Request, lease_id: str, creds: DeviceToken, release_token: ReleaseToken,
            reason: Reason = "user") -> Response:
    c = ctx(request)
    with c.transaction() as session:
        if release_token is not None:
            seats.release_by_token(session, release_token, lease_id, reason, c.now())
        else:
            caller = auth.device_caller(session, _token(creds))
            seats.release_by_device(session, caller, lease_id, reason, c.now())
    return Response(status_code=204)


# -- admin ---------------------------------------------------------------------------------

def admin_create_account(request: Request, body: schemas.CreateAccount,
                         _: None = Depends(admin)) -> dict[str, str]:
    c = ctx(request)
    with c.transaction() as session:
        return accounts.create_account(session, body.email, body.password, c.now(),
                                       actor=audit.ADMIN_TOKEN)


def admin_create_license(request: Request, body: schemas.CreateLicense,
                         _: None = Depends(admin)) -> dict[str, Any]:
    c = ctx(request)
    expires_at = None if body.expires_at is None else parse_rfc3339(body.expires_at)
    with c.transaction() as session:
        return accounts.create_license(session, body.account_id, body.name, body.kind,
                                       body.seats, expires_at, body.support_until, c.now(),
                                       max_borrow_s=body.max_borrow_s, actor=audit.ADMIN_TOKEN)


def admin_update_license(request: Request, license_id: str, body: schemas.UpdateLicense,
                         _: None = Depends(admin)) -> dict[str, Any]:
    c = ctx(request)
    changes: dict[str, Any] = {name: getattr(body, name) for name in body.model_fields_set}
    for name in ("seats", "max_borrow_s"):
        if name in changes and changes[name] is None:
            raise errors.InvalidRequest(f"The request is not valid: {name} cannot be null.",
                                        {"fields": {name: "must be a number"}})
    if changes.get("expires_at") is not None:
        changes["expires_at"] = parse_rfc3339(changes["expires_at"])
    with c.transaction() as session:
        return accounts.update_license(session, license_id, changes, c.now(),
                                       actor=audit.ADMIN_TOKEN)


def admin_get_license(request: Request, license_id: str,
                      _: None = Depends(admin)) -> dict[str, Any]:
    c = ctx(request)
    with c.transaction() as session:
        return accounts.license_with_leases(session, license_id, c.now())


_ID = r"^[A-Za-z0-9_-]+$"
_AUDIT_QUERY = frozenset({"event", "account_id", "device_id", "since", "limit", "cursor"})


def admin_audit(
    request: Request, _: Annotated[None, Depends(admin)],
    event: Annotated[Literal[audit.EVENTS] | None, Query(  # type: ignore[valid-type]
        description="Only events of this kind")] = None,
    account_id: Annotated[str | None, Query(max_length=40, pattern=_ID)] = None,
    device_id: Annotated[str | None, Query(max_length=40, pattern=_ID)] = None,
    since: Annotated[str | None, Query(description="RFC 3339: only events at or after it",
                                       examples=["2026-11-29T08:00:00Z"])] = None,
    limit: Annotated[int, Query(ge=1, le=audit.MAX_LIMIT)] = audit.DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=100, pattern=_ID,
                                        description="`next` of the page before")] = None,
) -> dict[str, Any]:
    """The audit trail, newest first, a page at a time."""
    # A mistyped filter (`devce_id`) would otherwise answer the whole trail.
    unknown = sorted(set(request.query_params) - _AUDIT_QUERY)
    if unknown:
        raise errors.InvalidRequest(
            f"The request is not valid: unknown query parameter {unknown[0]!r}; this "
            f"endpoint takes {', '.join(sorted(_AUDIT_QUERY))}.",
            {"fields": {name: "is not a parameter of this endpoint" for name in unknown}})
    try:
        after = None if since is None else parse_rfc3339(since)
    except ValueError as exc:
        raise errors.InvalidRequest(f"The request is not valid: since {exc}.",
                                    {"fields": {"since": str(exc)}}) from None
    with ctx(request).transaction() as session:
        return audit.events_json(session, event=event, account_id=account_id,
                                 device_id=device_id, since=after, limit=limit, cursor=cursor)


def admin_release_lease(request: Request, lease_id: str, _: None = Depends(admin)) -> Response:
    c = ctx(request)
    with c.transaction() as session:
        seats.admin_release(session, lease_id, c.now())
    return Response(status_code=204)


_DAY = r"^\d{4}-\d{2}-\d{2}$"


def admin_license_usage(
    request: Request, license_id: str, _: Annotated[None, Depends(admin)],
    since: Annotated[str | None, Query(pattern=_DAY, description="First day (UTC), YYYY-MM-DD; "
                                       "default: 29 days before `until`")] = None,
    until: Annotated[str | None, Query(pattern=_DAY, description="Last day (UTC), YYYY-MM-DD; "
                                       "default: today")] = None,
) -> dict[str, Any]:
    """Seats used and the peak per day, as the usage count has them."""
    c = ctx(request)
    with c.transaction() as session:
        return usage.license_usage(session, license_id, since, until, c.now())
