"""/v1/ready, Prometheus metrics on their own port, and the JSON access log, on the real server."""

from __future__ import annotations

import json
import time
from pathlib import Path

import psycopg
import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from psycopg import sql
from seatkeeper_server.db import make_engine
from sqlalchemy import text
from sqlalchemy.engine import make_url

from tests.server.checks import error, login_body
from tests.server.test_schema_upgrades import empty_db  # noqa: F401 (a fixture)
from tests.support.api import Api, expect
from tests.support.pg import SKIP_REASON, fresh_postgres_database, postgres_url
from tests.support.procs import ServerProcess, free_port


def set_revision(url: str, revision: str) -> str:
    """Write `revision` into alembic_version (as another release's `migrate` would); the old."""
    engine = make_engine(url)
    with engine.begin() as connection:
        old = str(connection.execute(text("SELECT version_num FROM alembic_version")).scalar())
        connection.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": revision})
    engine.dispose()
    return old


def test_ready_only_while_the_schema_is_this_servers(
        empty_db: str, tmp_path: Path) -> None:  # noqa: F811 (the fixture)
    """/v1/ready is 200 ready; 503 UNAVAILABLE once a newer release migrated the database; 200
    again when it is back; /v1/health stays 200 throughout."""
    with ServerProcess(empty_db, home=tmp_path, signing_key_path=tmp_path / "key.pem") as server:
        assert expect(requests.get(f"{server.url}/v1/ready", timeout=10), 200) == {
            "status": "ready"}
        old = set_revision(empty_db, "9999_future")
        refused = requests.get(f"{server.url}/v1/ready", timeout=10)
        error(refused, 503, "UNAVAILABLE")
        assert "seatkeeper-server migrate" in refused.json()["error"]["message"]
        assert refused.headers["Retry-After"].isdigit()
        expect(requests.get(f"{server.url}/v1/health", timeout=10), 200)
        set_revision(empty_db, old)
        expect(requests.get(f"{server.url}/v1/ready", timeout=10), 200)


@pytest.mark.postgres
def test_not_ready_while_the_database_refuses_connections(tmp_path: Path) -> None:
    """While PostgreSQL refuses connections /v1/ready is 503 UNAVAILABLE (health stays 200);
    ready again once it accepts them."""
    if postgres_url() is None:
        pytest.skip(SKIP_REASON)
    with fresh_postgres_database() as url, ServerProcess(
            url, tmp_path / "home", tmp_path / "key.pem") as server:
        expect(requests.get(f"{server.url}/v1/ready", timeout=10), 200)
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
                error(requests.get(f"{server.url}/v1/ready", timeout=30), 503, "UNAVAILABLE")
                expect(requests.get(f"{server.url}/v1/health", timeout=10), 200)
            finally:
                conn.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS true")
                             .format(sql.Identifier(name)))
        expect(requests.get(f"{server.url}/v1/ready", timeout=10), 200)


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the metrics page: (name, sorted labels) -> value."""
    page = requests.get(url, timeout=10)
    assert page.status_code == 200, page.text
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(page.text) for sample in family.samples}


def test_metrics_and_access_log(tmp_path: Path) -> None:
    """Requests by route and status, latencies, leases live, seats used, rate-limit refusals and
    sweep reclaims, on the metrics port only; each request one JSON log line, no query."""
    metrics_port = free_port()
    with ServerProcess(f"sqlite:///{tmp_path / 'server.db'}", home=tmp_path,
                       signing_key_path=tmp_path / "key.pem", lease_ttl=4, heartbeat_interval=1,
                       extra_args=["--metrics-listen", f"127.0.0.1:{metrics_port}",
                                   "--access-log", "--log-format", "json"]) as server:
        metrics = f"http://127.0.0.1:{metrics_port}/metrics"
        api = Api(server.url, server.admin_token)
        email = api.create_account()["email"]
        for _ in range(11):
            requests.post(f"{server.url}/v1/auth/password", timeout=10,
                          json=login_body(email, "wrong password"))
        expect(requests.get(f"{server.url}/v1/health?code=SECRET-CODE", timeout=10), 200)
        devices = [api.new_device(seats=2) for _ in range(2)]
        for device in devices:
            expect(device.acquire(), 201)
        live = scrape(metrics)
        assert live[("seatkeeper_http_requests_total", (
            ("method", "POST"), ("route", "/v1/seats"), ("status", "201")))] == 2
        assert live[("seatkeeper_http_requests_total", (
            ("method", "POST"), ("route", "/v1/auth/password"), ("status", "401")))] == 10
        assert live[("seatkeeper_rate_limit_refusals_total",
                     (("route", "/v1/auth/password"),))] == 1
        assert live[("seatkeeper_http_request_duration_seconds_count",
                     (("method", "POST"), ("route", "/v1/seats")))] == 2
        assert live[("seatkeeper_leases_live", ())] == 2
        for device in devices:
            assert device.license is not None
            assert live[("seatkeeper_license_seats_used", (("license", device.license["id"]),))
                        ] == 1
            assert live[("seatkeeper_license_seats_total", (("license", device.license["id"]),))
                        ] == 2
        assert requests.get(f"{server.url}/metrics", timeout=10).status_code == 404
        deadline = time.monotonic() + 15
        while scrape(metrics).get(("seatkeeper_sweep_reclaims_total", ()), 0) < 2:
            assert time.monotonic() < deadline, "the sweep never reclaimed the silent leases"
            time.sleep(0.5)
        assert scrape(metrics)[("seatkeeper_leases_live", ())] == 0
    lines = [json.loads(line) for line in server.log_path.read_text().splitlines()
             if line.startswith("{")]
    logged = [line for line in lines if line["logger"] == "seatkeeper.server.access"]
    assert {(line["method"], line["route"], line["status"]) for line in logged} >= {
        ("POST", "/v1/seats", 201), ("GET", "/v1/health", 200),
        ("POST", "/v1/auth/password", 429)}
    assert "SECRET-CODE" not in server.log_path.read_text()
