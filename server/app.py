"""The FastAPI application: route table, error rendering, body cap, reclaim sweep."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from seatkeeper_server import (
    __version__,
    api,
    console,
    errors,
    hotpath,
    i18n,
    observability,
    portal,
    schemas,
    shedding,
    sweeper,
)
from seatkeeper_server.context import Context
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeout
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("seatkeeper.server")
MAX_BODY = 1024 * 1024
GRANT_TOKEN_PATH = "/v1/auth/device/token"  # noqa: S105 (a path, not a secret)


_RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before trying again",
                                "schema": {"type": "integer"}}}


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {status: {"model": schemas.ErrorBody, "description": "An error; see `code`",
                     **({"headers": _RETRY_AFTER} if status in (429, 503) else {})}
            for status in statuses}


_BODY, _AUTH = (400, 413), (401,)
# method, path, handler, success status, response model, error statuses
ROUTES: list[tuple[str, str, Callable[..., Any], int, Any, tuple[int, ...]]] = [
    ("GET",    "/v1/health",                        api.health,               200, schemas.Health,        ()),
    ("GET",    "/v1/ready",                         observability.ready,      200, schemas.Ready,         ()),
    ("GET",    "/v1/keys",                          api.keys,                 200, schemas.Keys,          ()),
    ("POST",   "/v1/auth/password",                 api.login_password,       200, schemas.LoginResult,   (*_BODY, 401, 429)),
    ("POST",   "/v1/auth/device",                   api.device_authorize,     200, schemas.DeviceAuthorization, (*_BODY, 429)),
    ("POST",   "/v1/auth/device/token",             api.device_token,         200, schemas.LoginResult,   (400, 413)),
    ("POST",   "/v1/auth/logout",                   api.logout,               204, None,                  _AUTH),
    ("GET",    "/v1/account",                       api.account,              200, schemas.AccountOut,    _AUTH),
    ("PUT",    "/v1/account/remote-deactivation",   api.remote_deactivation,  200, schemas.Enabled,       (*_BODY, 401, 409)),
    ("GET",    "/v1/devices",                       api.list_devices,         200, schemas.Devices,       _AUTH),
    ("POST",   "/v1/devices/{device_id}/deactivate", api.deactivate_device,   200, schemas.DeviceOut,     (400, 401, 403, 404)),
    ("POST",   "/v1/seats",                         api.acquire,              201, schemas.LeaseEnvelope, (*_BODY, 401, 403, 404, 409)),
    ("POST",   "/v1/seats/{lease_id}/heartbeat",    api.heartbeat,            200, schemas.LeaseEnvelope, (401, 403, 404, 410)),
    ("POST",   "/v1/seats/{lease_id}/borrow",       api.borrow,               200, schemas.LeaseEnvelope, (*_BODY, 401, 403, 404, 410)),
    ("DELETE", "/v1/seats/{lease_id}",              api.release,              204, None,                  (400, 401, 403, 404)),
    ("POST",   "/v1/admin/accounts",                api.admin_create_account, 201, schemas.AccountRef,    (*_BODY, 401, 403)),
    ("POST",   "/v1/admin/licenses",                api.admin_create_license, 201, schemas.LicenseOut,    (*_BODY, 401, 403, 404)),
    ("PATCH",  "/v1/admin/licenses/{license_id}",   api.admin_update_license, 200, schemas.LicenseOut,    (*_BODY, 401, 403, 404)),
    ("GET",    "/v1/admin/licenses/{license_id}",   api.admin_get_license,    200, schemas.AdminLicense,  (401, 403, 404)),
    ("GET",    "/v1/admin/licenses/{license_id}/usage", api.admin_license_usage, 200, schemas.Usage, (400, 401, 403, 404)),
    ("DELETE", "/v1/admin/leases/{lease_id}",       api.admin_release_lease,  204, None,                  (401, 403, 404)),
    ("GET",    "/v1/admin/audit",                   api.admin_audit,          200, schemas.AuditPage,     (400, 401, 403)),
]  # fmt: skip


def create_app(context: Context, *, sweep_every_s: float | None = None) -> FastAPI:
    """The server as an ASGI app; the sweep thread runs while the app is being served."""
    app = FastAPI(title="Seatkeeper license server", version=__version__,
                  lifespan=_lifespan(context, sweep_every_s))
    app.state.ctx = context
    for method, path, handler, status, model, failures in ROUTES:
        extra: dict[int | str, dict[str, Any]] = _errors(*failures, 503)
        if path == GRANT_TOKEN_PATH:
            extra[400] = {"model": schemas.DeviceGrantError,
                          "description": "Not (yet) a login: RFC 8628's `error`"}
        if path == "/v1/seats":
            extra[200] = {"model": schemas.LeaseEnvelope,
                          "description": "The lease this device already holds, renewed"}
        # exclude_unset: send exactly what the handler built, so a lease is what was signed
        # (a renewed lease has no release_token, not a `"release_token": null`).
        app.add_api_route(path, handler, methods=[method], status_code=status,
                          response_model=model, responses=extra,
                          response_model_exclude_unset=True,
                          response_class=JSONResponse if status != 204 else _NoContent)
    app.include_router(portal.router)
    app.include_router(console.router)
    _install_error_handlers(app)
    app.add_middleware(i18n.Speak)
    heartbeat_route = next(r for r in app.routes
                           if isinstance(r, APIRoute) and r.path == hotpath.PATH)
    app.add_middleware(hotpath.HeartbeatDoor, context=context, route=heartbeat_route)
    app.add_middleware(BodyLimit, limit=MAX_BODY)
    app.add_middleware(NulPath)
    # Outermost: a refusal for load costs no body read and no routing.
    app.add_middleware(shedding.Shed, max_in_flight=context.max_in_flight,
                       max_queue_wait_s=context.max_queue_wait_s)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


class _NoContent(Response):
    """204: no body and no content type."""


def _lifespan(context: Context, every: float | None) -> Any:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if not context.sweep:  # --workers: the supervising process sweeps, once
            yield
            return
        thread, stop = sweeper.start(context, every)
        try:
            yield
        finally:
            stop.set()
            thread.join(timeout=10)
    return lifespan


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(portal.BadForm)
    async def bad_form(request: Request, exc: portal.BadForm) -> Response:
        if request.url.path.startswith("/admin"):
            return console.bad_form_page(exc)
        return portal.bad_form_page(exc)

    @app.exception_handler(errors.ApiError)
    async def apierror_response(_: Request, exc: errors.ApiError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        refusal = await run_in_threadpool(api.credential_refusal, request)
        if refusal is not None:
            return error_response(refusal)
        fields = {}
        for problem in exc.errors():
            loc = [str(p) for p in problem.get("loc", ()) if p not in ("body", "query", "path")]
            name = ".".join(loc) or "body"
            if problem.get("type") == "json_invalid":
                fields["body"] = "is not valid JSON"
            elif problem.get("type") == "missing" and name == "body":
                fields["body"] = "a JSON object is required"
            else:
                fields[name] = str(problem.get("msg", "is not valid")).removeprefix("Value error, ")
        listing = "; ".join(f"{k} {v}" for k, v in fields.items())
        if request.url.path == GRANT_TOKEN_PATH:  # RFC 8628 (RFC 6749) shape here
            return JSONResponse({"error": "invalid_request",
                                 "error_description": f"The request is not valid: {listing}."},
                                status_code=400)
        return error_response(errors.InvalidRequest(f"The request is not valid: {listing}.",
                                            {"fields": fields}))

    @app.exception_handler(HTTPException)
    async def httperror_response(request: Request, exc: HTTPException) -> JSONResponse:
        if exc.status_code == 400 and request.url.path == GRANT_TOKEN_PATH:
            return JSONResponse({"error": "invalid_request",
                                 "error_description": "The body is not valid JSON."},
                                status_code=400)
        if exc.status_code == 400:  # the framework could not read the body at all
            refusal = await run_in_threadpool(api.credential_refusal, request)
            return error_response(refusal or errors.InvalidRequest(
                "The request body is not valid JSON (UTF-8, not nested too deeply).",
                {"fields": {"body": "is not valid JSON"}}))
        if exc.status_code == 404:
            return error_response(errors.NotFound("No such path. See /openapi.json for the API."))
        if exc.status_code == 405:  # with an Allow header, which RFC 9110 requires
            return error_response(errors.InvalidRequest("This method is not allowed on this path.",
                                                status=405, headers=_allow(app, request)))
        return error_response(errors.InvalidRequest(str(exc.detail), status=exc.status_code))

    @app.exception_handler(OperationalError)
    async def on_database_down(_: Request, exc: OperationalError) -> JSONResponse:
        return database_down(exc)

    @app.exception_handler(SQLAlchemyTimeout)
    async def on_pool_exhausted(_: Request, exc: SQLAlchemyTimeout) -> JSONResponse:
        return pool_exhausted()


def database_down(exc: OperationalError) -> JSONResponse:
    log.error("database unavailable: %s", exc.orig)
    # Spread out, as for load: a whole fleet retrying every 5 s is a load of its own.
    return error_response(errors.Unavailable(
        "The license database is unavailable. Retry shortly.",
        headers={"Retry-After": str(max(5, shedding.PRESSURE.retry_after()))}))


def pool_exhausted() -> JSONResponse:
    return error_response(shedding.unavailable("no database connection came free in time"))


def _allow(app: FastAPI, request: Request) -> dict[str, str]:
    """Every method of every route on this path: the router's own header names only the
    first route's, and a path may have one route per method (GET and PATCH a license)."""
    methods: set[str] = set()
    for route in app.router.routes:
        if isinstance(route, APIRoute) and route.matches(request.scope)[0] is not Match.NONE:
            methods |= route.methods or set()
    return {"Allow": ", ".join(sorted(methods))}


def error_response(exc: errors.ApiError) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)


class NulPath:
    """A path holding NUL (`%00`) names nothing here, and PostgreSQL cannot compare it: 404."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and "\x00" in scope["path"]:
            exc = errors.NotFound("No such path. See /openapi.json for the API.")
            await error_response(exc)(scope, receive, send)
            return
        await self.app(scope, receive, send)


class BodyLimit:
    """Refuse bodies over the cap with 413, whether or not Content-Length announced them."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._refuse(scope, receive, send)
            return
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            more = message.get("more_body", False)
            if size > self.limit:
                await self._refuse(scope, receive, send)
                return
        body = b"".join(chunks)
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        exc = errors.InvalidRequest(f"The request body is over {self.limit} bytes.", status=413)
        await error_response(exc)(scope, receive, send)


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document, less its 422 answers: this API answers bad input with 400."""
    if app.openapi_schema is None:
        doc = get_openapi(title=app.title, version=app.version, routes=app.routes,
                          description="Seatkeeper seat protocol, version 1 (docs/protocol.md).")
        for item in doc.get("paths", {}).values():
            for operation in item.values():
                operation.get("responses", {}).pop("422", None)
        for name in ("HTTPValidationError", "ValidationError"):
            doc.get("components", {}).get("schemas", {}).pop(name, None)
        app.openapi_schema = doc
    return app.openapi_schema
