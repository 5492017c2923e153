"""Heartbeats renewed together (the heartbeat door's group commit): each is answered as it
would be alone, a batch's tokens never vouch for each other's leases, and under load the
door really does renew several in one transaction."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from seatkeeper_server import errors
from seatkeeper_server.services import seats

from tests.server.checks import canonical
from tests.server.test_concurrency import LOGIN_WORKERS, race
from tests.server.test_observability import scrape
from tests.support.api import Api, expect
from tests.support.inproc import Station, database, epoch, station
from tests.support.procs import ServerProcess, free_port

TTL_S = 600


@pytest.fixture
def s(backend: str, tmp_path: Path) -> Iterator[Station]:
    with database(backend, tmp_path) as url, station(url, ttl_s=TTL_S) as made:
        yield made


def token(device: dict[str, str]) -> str:
    return device["Authorization"].removeprefix("Bearer ")


def verified(s: Station, answer: Any) -> dict[str, Any]:
    """The lease of a signed answer, its signature checked against /v1/keys."""
    assert isinstance(answer, dict), f"expected a signed lease, got {answer!r}"
    keys = s.client.get("/v1/keys").json()["keys"]
    (key,) = [k for k in keys if k["kid"] == answer["signature"]["kid"]]
    Ed25519PublicKey.from_public_bytes(base64.b64decode(key["public_key"])).verify(
        base64.b64decode(answer["signature"]["value"]), canonical(answer["lease"]))
    lease: dict[str, Any] = answer["lease"]
    return lease


def refused(answer: Any, kind: type[errors.ApiError]) -> errors.ApiError:
    assert isinstance(answer, kind), f"expected {kind.__name__}, got {answer!r}"
    return answer


def test_a_batch_answers_each_heartbeat_as_it_would_be_answered_alone(s: Station) -> None:
    """One batch with good heartbeats, a device's token on its neighbour's lease (while the
    neighbour beats too), another account's, a malformed and a missing token, a revoked, an
    expired and an unknown lease, and one lease twice: every answer is the one that
    heartbeat earns on its own, and only the leases rightly beaten are renewed."""
    account, lic = s.account(seats=8)
    other, other_lic = s.account(seats=1)
    a, b, c, e = (s.device(account, name) for name in ("a", "b", "c", "e"))
    stranger = s.device(other, "stranger")
    expired = s.acquire(e, lic["id"])
    s.clock.now += TTL_S + 1  # e's lease runs out; the others are taken now
    la, lb, lc = (s.acquire(d, lic["id"]) for d in (a, b, c))
    s.acquire(stranger, other_lic["id"])
    s.check(s.client.delete(f"/v1/admin/leases/{lc}", headers=s.admin), 204)  # revoked
    s.clock.now += 60
    beats: list[tuple[str | None, str]] = [
        (token(a), la), (token(a), lb), (token(b), lb), (token(stranger), la),
        ("skd_not-a-token", la), (None, la), (token(c), lc), (token(e), expired),
        (token(b), "lea_nosuchlease"), (token(a), la)]
    answers = seats.heartbeats(s.context.connection, beats, s.context.now(), s.context.terms,
                               s.context.signer)
    assert len(answers) == len(beats)
    renewed_to = s.context.now() + TTL_S
    for at in (0, 2, 9):  # a's, b's and a's again
        lease = verified(s, answers[at])
        assert lease["lease_id"] == beats[at][1]
        assert epoch(lease["expires_at"]) == renewed_to
    assert verified(s, answers[0])["device"]["name"] == "a"
    assert verified(s, answers[2])["device"]["name"] == "b"
    refused(answers[1], errors.Forbidden)  # a's token opens no lease of b's
    refused(answers[3], errors.NotFound)  # nor another account's token
    refused(answers[4], errors.Unauthenticated)
    refused(answers[5], errors.Unauthenticated)
    assert refused(answers[6], errors.LeaseRevoked).details["reason"] == "admin"
    refused(answers[7], errors.LeaseExpired)
    refused(answers[8], errors.NotFound)
    # Each alone gets the same answer: the route's function is the batch's.
    for (tok, lease_id), answer in zip(beats, answers, strict=True):
        headers = {"Authorization": f"Bearer {tok}"} if tok else {}
        alone = s.client.post(f"/v1/seats/{lease_id}/heartbeat", headers=headers)
        status = 200 if isinstance(answer, dict) else answer.status
        assert alone.status_code == status, (tok, lease_id, alone.text)


def test_an_empty_batch_renews_nothing(s: Station) -> None:
    assert seats.heartbeats(s.context.connection, [], s.context.now(), s.context.terms,
                            s.context.signer) == []


def test_heartbeats_arriving_together_are_renewed_together(backend: str, tmp_path: Path) -> None:
    """40 devices beating at the same instant, with a neighbour's token in the crowd: all
    answered rightly (their own lease, the neighbour 403), in fewer transactions than
    heartbeats (the batch-size histogram on the metrics port). A database of its own: its
    40 logins would count against the other tests' login rate limits."""
    metrics_port = free_port()
    with database(backend, tmp_path) as url, ServerProcess(
            url, home=tmp_path / "home", signing_key_path=tmp_path / "key.pem",
            extra_args=["--metrics-listen", f"127.0.0.1:{metrics_port}"]) as server:
        api = Api(server.url, server.admin_token)
        account, lic = api.new_account(seats=40)
        with ThreadPoolExecutor(max_workers=LOGIN_WORKERS) as pool:
            devices = list(pool.map(lambda i: api.login(
                account["email"], account["password"], name=f"pc-{i:02d}"), range(40)))
        held = [expect(d.acquire(lic["id"]), 201)["lease"]["lease_id"] for d in devices]
        metrics = f"http://127.0.0.1:{metrics_port}/metrics"
        for _ in range(3):
            calls: list[Callable[[], requests.Response]] = [
                partial(d.post, f"/v1/seats/{lease}/heartbeat")
                for d, lease in zip(devices, held, strict=True)]
            calls.append(partial(devices[0].post, f"/v1/seats/{held[1]}/heartbeat"))
            answers: list[requests.Response] = race(calls)
            for answer, lease in zip(answers, held, strict=False):
                assert expect(answer, 200)["lease"]["lease_id"] == lease
            assert answers[-1].status_code == 403, answers[-1].text
        page = scrape(metrics)
        batches = page[("seatkeeper_heartbeat_batch_size_count", ())]
        beaten = page[("seatkeeper_heartbeat_batch_size_sum", ())]
        assert beaten == 3 * 41
        assert batches < beaten, "every heartbeat went to the database on its own"
