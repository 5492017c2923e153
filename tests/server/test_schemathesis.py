"""/openapi.json, held to its word: schemathesis-generated requests to every operation of the
live server never get a 5xx, and every answer has a documented status, content type, headers
and body.

Each operation is fuzzed three ways, all with valid tokens so requests get past 401: `valid`
(data that fits the schema), `invalid` (data that breaks it) and `known` (valid data around
ids that exist, so the success answers are checked too).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode, checks
from schemathesis.core.result import Ok
from seatkeeper_server.app import ROUTES

from tests.support.api import DEFAULT_APP, Api, expect
from tests.support.pg import fresh_postgres_database
from tests.support.procs import ServerProcess

CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
    checks.negative_data_rejection,
    checks.ignored_auth,
]
EXAMPLES = {"valid": 25, "invalid": 15, "known": 10}
OPERATIONS = [(method, path) for method, path, *_ in ROUTES]
# Operations that take no input have no request that breaks the schema.
NO_INPUT = {("GET", "/v1/health"), ("GET", "/v1/ready"), ("GET", "/v1/keys")}
# Operations with an input worth pinning to something that exists (see Known.pin).
PINNED = {
    ("POST", "/v1/auth/password"),
    ("POST", "/v1/devices/{device_id}/deactivate"),
    ("POST", "/v1/seats"),
    ("POST", "/v1/seats/{lease_id}/heartbeat"),
    ("DELETE", "/v1/seats/{lease_id}"),
    ("POST", "/v1/admin/accounts"),
    ("POST", "/v1/admin/licenses"),
    ("GET", "/v1/admin/licenses/{license_id}"),
    ("GET", "/v1/admin/licenses/{license_id}/usage"),
    ("DELETE", "/v1/admin/leases/{lease_id}"),
}
# The pinned runs go first, in route order, while the things they pin are as set up: the
# seat still held, remote deactivation still on (the fuzzing may switch it off later).
RUNS = [pytest.param((method, path), "known", id=f"{method} {path} known")
        for method, path in OPERATIONS if (method, path) in PINNED]
RUNS += [pytest.param((method, path), way, id=f"{method} {path} {way}")
         for method, path in OPERATIONS for way in ("valid", "invalid")
         if way == "valid" or (method, path) not in NO_INPUT]


@dataclass(frozen=True)
class Known:
    """Things that exist on the fuzzed server, and the tokens to reach them."""

    admin_token: str
    device_token: str
    # Logging out revokes a token: this one is for the logout operation alone (logging out
    # again with it is 204 again), so the device token above stays valid throughout.
    logout_token: str
    email: str
    password: str
    account_id: str
    license_id: str
    lease_id: str
    free_license_id: str
    other_device_id: str

    def headers(self, path: str) -> dict[str, str]:
        if path.startswith("/v1/admin/"):
            token = self.admin_token
        elif path == "/v1/auth/logout":
            token = self.logout_token
        else:
            token = self.device_token
        return {"Authorization": f"Bearer {token}"}

    def pin(self, method: str, path: str) -> dict[str, Any]:
        """schemathesis `as_strategy` arguments that fix the operation's ids (or body)."""
        pins: dict[tuple[str, str], dict[str, Any]] = {
            ("POST", "/v1/auth/password"): {"body": {
                "email": self.email, "password": self.password,
                "device": {"fingerprint": "fuzzed-machine", "name": "fuzzed", "platform": "linux"},
            }},
            ("POST", "/v1/devices/{device_id}/deactivate"): {
                "path_parameters": {"device_id": self.other_device_id}},
            ("POST", "/v1/seats"): {
                "body": {"license_id": self.free_license_id, "app": DEFAULT_APP}},
            ("POST", "/v1/seats/{lease_id}/heartbeat"): {
                "path_parameters": {"lease_id": self.lease_id}},
            ("DELETE", "/v1/seats/{lease_id}"): {"path_parameters": {"lease_id": self.lease_id}},
            ("POST", "/v1/admin/accounts"): {"body": {
                "email": f"fuzzed-{secrets.token_hex(4)}@example.test",
                "password": secrets.token_urlsafe(12),
            }},
            ("POST", "/v1/admin/licenses"): {"body": {
                "account_id": self.account_id, "name": "PIX4Dmapper Perpetual",
                "kind": "perpetual", "seats": 2, "support_until": "2027-06-30",
            }},
            ("GET", "/v1/admin/licenses/{license_id}"): {
                "path_parameters": {"license_id": self.license_id}},
            ("GET", "/v1/admin/licenses/{license_id}/usage"): {
                "path_parameters": {"license_id": self.license_id}},
            ("DELETE", "/v1/admin/leases/{lease_id}"): {
                "path_parameters": {"lease_id": self.lease_id}},
        }
        return pins[(method, path)]


@pytest.fixture(scope="module")
def fuzzed_server(backend: str, tmp_path_factory: pytest.TempPathFactory
                  ) -> Iterator[ServerProcess]:
    """A server on a database of its own: fuzzed logins trip the per-address rate limit,
    which must not lock the rest of the suite out of the shared server."""
    home = tmp_path_factory.mktemp(f"schemathesis-{backend}")
    database: AbstractContextManager[str] = (
        nullcontext(f"sqlite:///{home / 'server.db'}") if backend == "sqlite"
        else fresh_postgres_database())
    with database as url, ServerProcess(url, home=home / "home",
                                        signing_key_path=home / "signing-key.pem") as proc:
        yield proc


@pytest.fixture(scope="module")
def known(fuzzed_server: ServerProcess) -> Iterator[Known]:
    """An account with two licenses and three devices: one holds a seat of the first license,
    one will log out, one may be deactivated (remote deactivation is switched on first)."""
    api = Api(fuzzed_server.url, fuzzed_server.admin_token)
    account, license = api.new_account(seats=2)
    free_license = api.create_license(account["id"], name="PIX4Dmatic Yearly", seats=1)
    device, leaving, other = (api.login(account["email"], account["password"]) for _ in "abc")
    expect(device.put("/v1/account/remote-deactivation", json={"enabled": True}), 200)
    lease = expect(device.acquire(license["id"]), 201)["lease"]
    yield Known(admin_token=api.admin_token, device_token=device.token,
                logout_token=leaving.token, email=account["email"],
                password=account["password"], account_id=account["id"],
                license_id=license["id"], lease_id=lease["lease_id"],
                free_license_id=free_license["id"], other_device_id=other.id)
    api.close()


@pytest.fixture(scope="module")
def openapi(fuzzed_server: ServerProcess) -> schemathesis.BaseSchema:
    """The live server's own /openapi.json."""
    return schemathesis.openapi.from_url(f"{fuzzed_server.url}/openapi.json")


def documented(openapi: schemathesis.BaseSchema) -> list[tuple[str, str]]:
    """(method, path) of every operation the document describes; a broken one fails here."""
    found = []
    for result in openapi.get_all_operations():
        assert isinstance(result, Ok), f"/openapi.json has a broken operation: {result.err()}"
        found.append((result.ok().method.upper(), result.ok().path))
    return found


def test_the_document_lists_every_route(openapi: schemathesis.BaseSchema) -> None:
    """/openapi.json has exactly the operations of the route table, so none goes unfuzzed."""
    assert sorted(documented(openapi)) == sorted(OPERATIONS)


def test_methods_the_document_does_not_list_get_405_with_allow(
    openapi: schemathesis.BaseSchema, fuzzed_server: ServerProcess
) -> None:
    """On every documented path, each undocumented method is 405 INVALID_REQUEST, and `Allow`
    names the documented ones (RFC 9110 requires it)."""
    methods_of: dict[str, set[str]] = {}
    for method, path in documented(openapi):
        methods_of.setdefault(path, set()).add(method)
    with requests.Session() as session:
        for path, methods in methods_of.items():
            url = fuzzed_server.url + path.replace("{", "x").replace("}", "")
            for method in sorted({"GET", "PUT", "POST", "DELETE", "PATCH"} - methods):
                response = session.request(method, url, timeout=10)
                assert response.status_code == 405, (method, path, response.text)
                assert response.json()["error"]["code"] == "INVALID_REQUEST"
                allowed = {m.strip() for m in response.headers.get("Allow", "").split(",")}
                assert allowed - {"HEAD"} == methods, (method, path, response.headers)


@pytest.mark.parametrize(("operation", "way"), RUNS)
def test_every_operation_answers_as_documented(
    openapi: schemathesis.BaseSchema, known: Known, operation: tuple[str, str], way: str
) -> None:
    """Generated requests with valid tokens: never a 5xx, every answer as documented."""
    method, path = operation
    if way == "known":
        strategy = openapi[path][method].as_strategy(**known.pin(method, path))
    else:
        mode = GenerationMode.POSITIVE if way == "valid" else GenerationMode.NEGATIVE
        strategy = openapi[path][method].as_strategy(generation_mode=mode)
    headers = known.headers(path)

    # database=None: examples of one operation mean nothing to the next.
    @settings(max_examples=EXAMPLES[way], deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=strategy)
    def answers_as_documented(case: schemathesis.Case) -> None:
        case.call_and_validate(headers=headers, checks=CHECKS, timeout=30)

    answers_as_documented()
