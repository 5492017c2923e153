"""/openapi.json agrees with PROTOCOL.md: its endpoints, credentials, shapes and errors."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.api import Api, expect

# PROTOCOL.md's endpoint table, the device grant included (the portal's pages are not API).
PROTOCOL = {
    ("GET", "/v1/health"): ("none", set()),
    ("GET", "/v1/ready"): ("none", set()),
    ("GET", "/v1/keys"): ("none", set()),
    ("POST", "/v1/auth/password"): ("none", {400, 401, 413, 429}),
    ("POST", "/v1/auth/device"): ("none", {400, 413, 429}),
    ("POST", "/v1/auth/device/token"): ("none", {400, 413}),
    ("POST", "/v1/auth/logout"): ("device", {401}),
    ("GET", "/v1/account"): ("device", {401}),
    ("PUT", "/v1/account/remote-deactivation"): ("device", {400, 401, 409}),
    ("GET", "/v1/devices"): ("device", {401}),
    ("POST", "/v1/devices/{device_id}/deactivate"): ("device", {400, 401, 403, 404}),
    ("POST", "/v1/seats"): ("device", {400, 401, 403, 404, 409, 413}),
    ("POST", "/v1/seats/{lease_id}/heartbeat"): ("device", {401, 403, 404, 410}),
    ("POST", "/v1/seats/{lease_id}/borrow"): ("device", {400, 401, 403, 404, 410, 413}),
    ("DELETE", "/v1/seats/{lease_id}"): ("release", {400, 401, 403, 404}),
    ("POST", "/v1/admin/accounts"): ("admin", {400, 401, 403}),
    ("POST", "/v1/admin/licenses"): ("admin", {400, 401, 403, 404}),
    ("PATCH", "/v1/admin/licenses/{license_id}"): ("admin", {400, 401, 403, 404, 413}),
    ("GET", "/v1/admin/licenses/{license_id}"): ("admin", {401, 403, 404}),
    ("GET", "/v1/admin/licenses/{license_id}/usage"): ("admin", {400, 401, 403, 404}),
    ("DELETE", "/v1/admin/leases/{lease_id}"): ("admin", {401, 403, 404}),
    ("GET", "/v1/admin/audit"): ("admin", {400, 401, 403}),
}
SECURITY: dict[str, list[dict[str, list[str]]] | None] = {
    "none": None, "device": [{"deviceToken": []}], "admin": [{"adminToken": []}],
    "release": [{"deviceToken": []}, {"releaseToken": []}]}
ERROR_REF = {"$ref": "#/components/schemas/ErrorBody"}
GRANT_ERROR_REF = {"$ref": "#/components/schemas/DeviceGrantError"}
GRANT_TOKEN = ("POST", "/v1/auth/device/token")


@pytest.fixture(scope="module")
def doc(api: Api) -> dict[str, Any]:
    body: dict[str, Any] = expect(api.get("/openapi.json"), 200)
    return body


def operations(doc: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(method.upper(), path): op for path, item in doc["paths"].items()
            for method, op in item.items()}


def schema(doc: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = doc["components"]["schemas"][name]
    return found


def test_paths_and_methods_are_exactly_the_protocols(doc: dict[str, Any]) -> None:
    """Every endpoint of the protocol is described, and nothing else."""
    assert set(operations(doc)) == set(PROTOCOL)


def test_no_422_anywhere(doc: dict[str, Any]) -> None:
    """Bad input is 400 in this API: no operation documents FastAPI's 422."""
    for key, op in operations(doc).items():
        assert "422" not in op["responses"], key
    assert not {"HTTPValidationError", "ValidationError"} & set(doc["components"]["schemas"])
    assert "HTTPValidationError" not in json.dumps(doc)


def test_each_operation_documents_its_errors_with_the_error_body(doc: dict[str, Any]) -> None:
    """The statuses the protocol gives each endpoint are documented, each as the error body."""
    for key, op in operations(doc).items():
        documented = {int(status) for status in op["responses"] if int(status) >= 400}
        assert PROTOCOL[key][1] | {503} <= documented, key
        for status in documented:
            content = op["responses"][str(status)]["content"]["application/json"]
            if key == GRANT_TOKEN and status == 400:
                continue  # RFC 8628's shape: see the test below
            assert content["schema"] == ERROR_REF, (key, status)


def test_the_device_token_endpoint_documents_the_rfc_error_shape(doc: dict[str, Any]) -> None:
    """The token endpoint's 400 is RFC 8628's `{"error": ...}`, with its four answers."""
    op = operations(doc)[GRANT_TOKEN]
    content = op["responses"]["400"]["content"]["application/json"]
    assert content["schema"] == GRANT_ERROR_REF
    codes = set(schema(doc, "DeviceGrantError")["properties"]["error"]["enum"])
    assert {"authorization_pending", "slow_down", "access_denied", "expired_token"} <= codes


def test_retry_after_is_documented_for_429_and_503(doc: dict[str, Any]) -> None:
    """429 and 503 answers document their Retry-After header."""
    for key, op in operations(doc).items():
        for status in ("429", "503"):
            if status in op["responses"]:
                assert "Retry-After" in op["responses"][status].get("headers", {}), (key, status)


def test_success_statuses_match_the_protocol(doc: dict[str, Any]) -> None:
    """Creating answers 201, acquire 201 or 200, releases and logout 204 with no body."""
    ops = operations(doc)
    assert {"200", "201"} <= set(ops[("POST", "/v1/seats")]["responses"])
    for key in [("POST", "/v1/admin/accounts"), ("POST", "/v1/admin/licenses")]:
        assert "201" in ops[key]["responses"], key
    for key in [("POST", "/v1/auth/logout"), ("DELETE", "/v1/seats/{lease_id}"),
                ("DELETE", "/v1/admin/leases/{lease_id}")]:
        assert "content" not in ops[key]["responses"]["204"], key


def test_each_operation_names_its_credential(doc: dict[str, Any]) -> None:
    """Device token, admin token, or (for release) device or release token; none for public."""
    for key, op in operations(doc).items():
        assert op.get("security") == SECURITY[PROTOCOL[key][0]], key
    schemes = doc["components"]["securitySchemes"]
    assert schemes["releaseToken"] == {**schemes["releaseToken"], "type": "apiKey",
                                       "in": "header", "name": "Seat-Release-Token"}
    assert schemes["deviceToken"]["scheme"] == schemes["adminToken"]["scheme"] == "bearer"


def test_release_reason_is_user_shutdown_or_logout(doc: dict[str, Any]) -> None:
    """DELETE /v1/seats/{id} takes an optional reason: user, shutdown or logout."""
    op = operations(doc)[("DELETE", "/v1/seats/{lease_id}")]
    (reason,) = [p for p in op["parameters"] if p["name"] == "reason"]
    assert reason["in"] == "query" and not reason.get("required", False)
    assert set(json.dumps(reason["schema"]).split('"')) >= {"user", "shutdown", "logout"}


@pytest.mark.parametrize(("name", "required"), [
    ("PasswordLogin", {"email", "password", "device"}),
    ("DeviceInfo", {"fingerprint", "name", "platform"}),
    ("AcquireRequest", {"app"}),
    ("AppInfo", {"name", "version", "release_date"}),
    ("RemoteDeactivation", {"enabled"}),
    ("CreateAccount", {"email", "password"}),
    ("CreateLicense", {"account_id", "name", "kind", "seats"}),
    ("BorrowRequest", {"until"}),
])
def test_request_bodies_require_what_the_protocol_requires(
        doc: dict[str, Any], name: str, required: set[str]) -> None:
    """Request schemas require the protocol's fields and leave its optional ones optional."""
    assert set(schema(doc, name)["required"]) == required


@pytest.mark.parametrize(("name", "fields"), [
    ("LicenseOut", {"id", "account_id", "name", "kind", "seats_total", "seats_used",
                    "expires_at", "support_until", "max_borrow_s"}),
    ("DeviceOut", {"id", "name", "platform", "current", "seat", "last_heartbeat_at"}),
    ("LeaseOut", {"lease_id", "account_id", "license", "device", "issued_at", "expires_at",
                  "server_time", "ttl_s", "heartbeat_interval_s", "release_token",
                  "borrowed_until"}),
    ("LeaseEnvelope", {"lease", "signature"}),
    ("Signature", {"kid", "alg", "value"}),
    # v1.2 (docs/protocol.md, Signing-key rotation) adds status, current_from, endorsement.
    ("PublicKey", {"kid", "alg", "public_key", "status", "current_from", "endorsement"}),
    ("LiveLease", {"lease_id", "device", "issued_at", "expires_at", "last_heartbeat_at",
                   "borrowed_until"}),
    ("SeatOut", {"lease_id", "license_id", "expires_at", "borrowed_until"}),
    ("ErrorDetail", {"code", "message", "details"}),
])
def test_response_shapes_are_the_protocols(doc: dict[str, Any], name: str,
                                           fields: set[str]) -> None:
    """Response schemas have exactly the protocol's fields."""
    assert set(schema(doc, name)["properties"]) == fields


def test_release_token_is_optional_in_the_lease(doc: dict[str, Any]) -> None:
    """release_token is in the 201 lease only, so the schema does not require it."""
    assert "release_token" not in schema(doc, "LeaseOut").get("required", [])


@pytest.mark.parametrize("key", [("POST", "/v1/seats"),
                                 ("POST", "/v1/seats/{lease_id}/heartbeat"),
                                 ("POST", "/v1/seats/{lease_id}/borrow")])
def test_the_seat_calls_say_a_lease_is_never_shortened(doc: dict[str, Any],
                                                       key: tuple[str, str]) -> None:
    """A seat request, a heartbeat or a borrow never shortens a lease (docs/protocol.md):
    each operation says so, and so does the lease's expires_at."""
    assert "never shortens a lease" in operations(doc)[key]["description"], key
    expires = schema(doc, "LeaseOut")["properties"]["expires_at"]["description"]
    assert "never shortens" in expires and "max(expires_at, now + ttl_s)" in expires


def test_the_audit_event_description_names_every_event(doc: dict[str, Any]) -> None:
    """The audit event's description lists every kind the server records, borrow too."""
    from seatkeeper_server.services.audit import EVENTS

    described = schema(doc, "AuditEventOut")["properties"]["event"]["description"]
    assert "borrow" in described.replace(",", " ").split()
    for event in EVENTS:
        assert event in described, event
