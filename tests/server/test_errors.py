"""Errors: the order checks run in, the error body, bad input of every kind, size cap, headers."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import requests
from psycopg import sql
from sqlalchemy.engine import make_url

from tests.server.checks import error
from tests.support.api import DEFAULT_APP, Api, Device, expect
from tests.support.pg import SKIP_REASON, fresh_postgres_database, postgres_url
from tests.support.procs import ServerProcess

JSON = {"Content-Type": "application/json"}
MIB = 1024 * 1024


# -- check order: authentication, existence, permission, then the rule --------------------

def test_authentication_comes_before_a_bad_body(api: Api) -> None:
    """Without a valid token, a bad body is still 401, malformed JSON included."""
    bearer = {"Authorization": "Bearer nope", **JSON}
    for headers in (JSON, bearer):
        error(api.post("/v1/seats", json={"app": 5}, headers=headers), 401, "UNAUTHENTICATED")
        error(api.post("/v1/seats", data="{not json", headers=headers), 401, "UNAUTHENTICATED")
        error(api.post("/v1/seats", data=b"\xff{}", headers=headers), 401, "UNAUTHENTICATED")
        error(api._anonymous.request("PUT", "/v1/account/remote-deactivation", data="{",
                                     headers=headers), 401, "UNAUTHENTICATED")


def test_authentication_comes_before_a_bad_query(api: Api) -> None:
    """Without credentials, a release with an unknown reason is 401, not 400."""
    error(api.delete("/v1/seats/lea_x", params={"reason": "bored"}), 401, "UNAUTHENTICATED")


def test_admin_authentication_comes_before_a_bad_body(api: Api) -> None:
    """On /v1/admin/*, no token is 401 and a device token 403, whatever the body."""
    device = api.new_device()
    for data in ("{not json", '{"email": 5}'):
        error(api.post("/v1/admin/accounts", data=data, headers=JSON), 401, "UNAUTHENTICATED")
        error(device.post("/v1/admin/accounts", data=data, headers=JSON), 403, "FORBIDDEN")


def test_authentication_comes_before_existence(api: Api) -> None:
    """An unknown lease, device or license is 401 to an unauthenticated caller."""
    unknown = secrets.token_hex(12)
    error(api.post(f"/v1/seats/lea_{unknown}/heartbeat"), 401, "UNAUTHENTICATED")
    error(api.delete(f"/v1/seats/lea_{unknown}"), 401, "UNAUTHENTICATED")
    error(api.post(f"/v1/devices/dev_{unknown}/deactivate"), 401, "UNAUTHENTICATED")
    error(api.get(f"/v1/admin/licenses/lic_{unknown}"), 401, "UNAUTHENTICATED")


def test_existence_comes_before_permission(api: Api) -> None:
    """Another account's lease or device is 404 even where its own would be 403."""
    owner, stranger = api.new_device(), api.new_device()
    assert owner.account is not None
    other = api.login(owner.account["email"], owner.account["password"])
    lease = expect(owner.acquire(), 201)["lease"]
    error(stranger.heartbeat(lease["lease_id"]), 404, "NOT_FOUND")
    error(other.heartbeat(lease["lease_id"]), 403, "FORBIDDEN")
    # Remote deactivation is off for the stranger: still 404, not 403.
    error(stranger.post(f"/v1/devices/{owner.id}/deactivate"), 404, "NOT_FOUND")
    error(other.post(f"/v1/devices/{owner.id}/deactivate"), 403,
          "REMOTE_DEACTIVATION_DISABLED")


def test_permission_comes_before_the_rule(api: Api) -> None:
    """Deactivating one's own device with the switch off is 403 (switch) before 400 (rule)."""
    device = api.new_device()
    error(device.post(f"/v1/devices/{device.id}/deactivate"), 403,
          "REMOTE_DEACTIVATION_DISABLED")


# -- bad input ------------------------------------------------------------------------------

def _acquire_raw(device: Device, data: object) -> requests.Response:
    return device.post("/v1/seats", data=data, headers=JSON)


@pytest.mark.parametrize("data", ["{not json", "", "[]", '"text"', "null", "[" * 100_000,
                                  b"\xff\xfe{}"],
                         ids=["malformed", "empty", "array", "string", "null", "deep", "bad-utf8"])
def test_body_that_is_not_a_json_object_is_400(api: Api, data: str | bytes) -> None:
    """A body that is not a JSON object is 400 INVALID_REQUEST naming `body`."""
    device = api.new_device()
    details = error(_acquire_raw(device, data), 400, "INVALID_REQUEST")
    assert set(details["fields"]) == {"body"}


@pytest.mark.parametrize(("body", "field"), [
    ({}, "app"),
    ({"app": 5}, "app"),
    ({"app": {**DEFAULT_APP, "release_date": 20260601}}, "app.release_date"),
    ({"app": {**DEFAULT_APP, "release_date": "2026-13-01"}}, "app.release_date"),
    ({"app": {**DEFAULT_APP, "release_date": "1 June 2026"}}, "app.release_date"),
    ({"app": {"name": "PIX4Dmapper", "version": "4.9.0"}}, "app.release_date"),
    ({"app": {**DEFAULT_APP, "name": ""}}, "app.name"),
    ({"app": {**DEFAULT_APP, "name": "x" * 10_000}}, "app.name"),
    ({"app": {**DEFAULT_APP, "name": "nul\u0000"}}, "app.name"),
    ({"app": DEFAULT_APP, "license_id": 7}, "license_id"),
    ({"app": DEFAULT_APP, "license_id": "lic\u0000"}, "license_id"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_acquire_with_a_bad_field_is_400_naming_it(api: Api, body: dict, field: str) -> None:
    """Missing fields, wrong types, bad dates and out-of-range values are 400 naming the field."""
    device = api.new_device()
    details = error(device.post("/v1/seats", json=body), 400, "INVALID_REQUEST")
    assert field in details["fields"], details


@pytest.mark.parametrize(("body", "field"), [
    ({"password": "x", "device": {"fingerprint": "f", "name": "n", "platform": "p"}}, "email"),
    ({"email": "a@b.c", "password": "x"}, "device"),
    ({"email": "a@b.c", "password": "x", "device": {"name": "n", "platform": "p"}},
     "device.fingerprint"),
    ({"email": "a@b.c", "password": 5, "device": {"fingerprint": "f", "name": "n",
                                                   "platform": "p"}}, "password"),
    ({"email": "a\u0000@b.c", "password": "x", "device": {"fingerprint": "f", "name": "n",
                                                           "platform": "p"}}, "email"),
], ids=["no-email", "no-device", "no-fingerprint", "password-type", "nul-email"])
def test_login_with_a_bad_field_is_400_naming_it(api: Api, body: dict, field: str) -> None:
    """A login body with a missing or ill-typed field is 400 naming it."""
    response = api.post("/v1/auth/password", json=body)
    assert field in error(response, 400, "INVALID_REQUEST")["fields"]


@pytest.mark.parametrize("enabled", ["true", 1, None])
def test_switch_takes_only_a_json_boolean(api: Api, enabled: object) -> None:
    """`enabled` must be true or false: "true", 1 or null are 400 naming it."""
    device = api.new_device()
    response = device.put("/v1/account/remote-deactivation", json={"enabled": enabled})
    assert "enabled" in error(response, 400, "INVALID_REQUEST")["fields"]


def test_unknown_request_fields_are_ignored(api: Api) -> None:
    """Fields the server does not know are ignored, at every level."""
    account = api.create_account()
    api.create_license(account["id"])
    login = {"email": account["email"], "password": account["password"], "totp": "123456",
             "device": {"fingerprint": secrets.token_hex(8), "name": "n", "platform": "linux",
                        "os_version": "6.1"}}
    token = expect(api.post("/v1/auth/password", json=login), 200)["token"]
    headers = {"Authorization": f"Bearer {token}"}
    body = {"app": {**DEFAULT_APP, "edition": "pro"}, "client": {"agent": "0.1"}}
    expect(api.post("/v1/seats", json=body, headers=headers), 201)


def test_unparsable_ids_are_not_found(api: Api) -> None:
    """Ids with characters no id has (NUL, very long) are 404, not a server error."""
    device = api.new_device()
    error(device.heartbeat("lea%00x"), 404, "NOT_FOUND")
    error(device.heartbeat("x" * 3000), 404, "NOT_FOUND")
    error(device.post("/v1/devices/dev%00x/deactivate"), 404, "NOT_FOUND")
    error(api.admin_get("/v1/admin/licenses/lic%00x"), 404, "NOT_FOUND")


# -- size cap -------------------------------------------------------------------------------

def test_body_over_1_mib_is_413(api: Api) -> None:
    """A body announced over 1 MiB by Content-Length is 413 INVALID_REQUEST."""
    device = api.new_device()
    error(_acquire_raw(device, "x" * (MIB + 1)), 413, "INVALID_REQUEST")


def test_chunked_body_over_1_mib_is_413(api: Api) -> None:
    """A chunked body (no Content-Length) that grows over 1 MiB is 413 too."""
    device = api.new_device()

    def chunks() -> Iterator[bytes]:
        for _ in range(17):
            yield b" " * 65536

    error(_acquire_raw(device, chunks()), 413, "INVALID_REQUEST")


def test_body_of_exactly_1_mib_is_served(api: Api) -> None:
    """A body of exactly 1 MiB (a large unknown field) is accepted."""
    device = api.new_device()
    head = '{"app": {"name": "PIX4Dmapper", "version": "4.9.0", "release_date": "2026-06-01"}, '
    head += '"padding": "'
    body = head + "x" * (MIB - len(head) - 2) + '"}'
    assert len(body.encode()) == MIB
    expect(_acquire_raw(device, body), 201)


# -- paths, methods, headers ----------------------------------------------------------------

@pytest.mark.parametrize("path", ["/", "/v1", "/v1/nothing", "/v2/seats", "/v1/seats/x/y/z"])
def test_unknown_path_is_404_not_found(api: Api, path: str) -> None:
    """A path the API does not have is 404 NOT_FOUND with the error body."""
    error(api.get(path), 404, "NOT_FOUND")


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/v1/seats"), ("PUT", "/v1/health"), ("DELETE", "/v1/devices"),
    ("GET", "/v1/auth/password"), ("PATCH", "/v1/account/remote-deactivation"),
])
def test_wrong_method_is_405_invalid_request(api: Api, method: str, path: str) -> None:
    """A method the path does not take is 405 INVALID_REQUEST."""
    error(api._anonymous.request(method, path), 405, "INVALID_REQUEST")


def test_every_response_carries_date(api: Api) -> None:
    """Date is on 200, 201, 204, 4xx and 413 answers alike."""
    device = api.new_device()
    responses = [api.get("/v1/health"), device.acquire(), device.logout(), device.acquire(),
                 api.get("/v1/nothing"), api._anonymous.request("PUT", "/v1/health"),
                 _acquire_raw(device, "x" * (MIB + 1))]
    assert [r.status_code for r in responses] == [200, 201, 204, 401, 404, 405, 413]
    for response in responses:
        assert response.headers.get("Date"), response.request.url


# -- the database going away ----------------------------------------------------------------

@pytest.mark.postgres
def test_database_outage_is_503_with_retry_after_then_recovers(tmp_path: Path) -> None:
    """While PostgreSQL refuses connections: 503 with Retry-After; then service resumes."""
    if postgres_url() is None:
        pytest.skip(SKIP_REASON)
    with fresh_postgres_database() as url, ServerProcess(
            url, tmp_path / "home", tmp_path / "key.pem") as server:
        api = Api(server.url, server.admin_token)
        device = api.new_device()
        name = make_url(url).database
        assert name is not None
        admin = make_url(url).set(drivername="postgresql", database="postgres")
        with psycopg.connect(admin.render_as_string(hide_password=False),
                             autocommit=True) as conn:
            conn.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS false")
                         .format(sql.Identifier(name)))
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                         "WHERE datname = %s", (name,))
            try:
                refused = device.acquire()
                error(refused, 503, "UNAVAILABLE")
                assert int(refused.headers["Retry-After"]) >= 1
                expect(api.get("/v1/health"), 200)
            finally:
                conn.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS true")
                             .format(sql.Identifier(name)))
        expect(device.acquire(), 201)
        api.close()
