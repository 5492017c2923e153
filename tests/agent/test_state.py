"""The seat state machine: every state of DESIGN.md's table, and its precedence."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st
from seatkeeper.core.state import (
    Facts,
    Holder,
    PendingItem,
    SeatRefusal,
    SeatState,
    Status,
    app_idle_release_due,
    app_seat_wanted,
    borrowed_until,
    decide,
    explain,
    lease_held,
)

NOW = dt.datetime(2026, 11, 29, 8, 0, 0, tzinfo=dt.UTC)
LATER = NOW + dt.timedelta(minutes=10)
EARLIER = NOW - dt.timedelta(minutes=10)
IN = Facts(signed_in=True)


def refused(code: str) -> SeatRefusal:
    return SeatRefusal(code=code, message=f"refused: {code}")


TABLE = [
    ("logout pending", Facts(signed_in=True, logout_pending=True), SeatState.LOGOUT_PENDING),
    ("no account", Facts(), SeatState.SIGNED_OUT),
    ("token no longer valid", Facts(signed_in=True, refusal=refused("UNAUTHENTICATED"),
                                    lease_expires_at=LATER), SeatState.SIGNED_OUT),
    ("seat given back, still logged in", Facts(signed_in=True, seat_released=True),
     SeatState.RELEASED),
    ("signed in, no lease yet", IN, SeatState.ACQUIRING),
    ("lease ran out on the server", Facts(signed_in=True, lease_expires_at=LATER,
                                          refusal=refused("LEASE_EXPIRED")),
     SeatState.ACQUIRING),
    ("lease unknown to the server", Facts(signed_in=True, lease_expires_at=LATER,
                                          refusal=refused("NOT_FOUND")), SeatState.ACQUIRING),
    ("no lease, server unreachable", Facts(signed_in=True, contact_failure="refused"),
     SeatState.ACQUIRING),
    ("fresh lease", Facts(signed_in=True, lease_expires_at=LATER), SeatState.ACTIVE),
    ("fresh lease, server unreachable",
     Facts(signed_in=True, lease_expires_at=LATER, contact_failure="timeout"),
     SeatState.OFFLINE),
    ("fresh lease, server busy",
     Facts(signed_in=True, lease_expires_at=LATER, refusal=refused("UNAVAILABLE")),
     SeatState.OFFLINE),
    ("fresh lease, rate limited",
     Facts(signed_in=True, lease_expires_at=LATER, refusal=refused("RATE_LIMITED")),
     SeatState.OFFLINE),
    ("fresh lease, certificate no longer trusted",
     Facts(signed_in=True, lease_expires_at=LATER, error="certificate not trusted"),
     SeatState.OFFLINE),
    ("lease ran out while offline", Facts(signed_in=True, lease_expires_at=EARLIER,
                                          contact_failure="timeout"), SeatState.ACQUIRING),
    ("all seats taken", Facts(signed_in=True, refusal=refused("SEAT_LIMIT_REACHED")),
     SeatState.SEAT_LIMIT_REACHED),
    ("no license", Facts(signed_in=True, refusal=refused("NO_LICENSE")), SeatState.DISCOVERY),
    ("continued in Discovery mode", Facts(signed_in=True, discovery_chosen=True),
     SeatState.DISCOVERY),
    ("Discovery mode chosen, seat still running out",
     Facts(signed_in=True, discovery_chosen=True, lease_expires_at=LATER), SeatState.ACTIVE),
    ("support ended", Facts(signed_in=True, refusal=refused("SUPPORT_EXPIRED")),
     SeatState.SUPPORT_EXPIRED),
    ("subscription ended", Facts(signed_in=True, refusal=refused("LICENSE_EXPIRED")),
     SeatState.LICENSE_EXPIRED),
    ("seat taken away", Facts(signed_in=True, lease_expires_at=LATER,
                              refusal=refused("LEASE_REVOKED")), SeatState.REVOKED),
    ("bad configuration", Facts(signed_in=True, error="bad server_url"), SeatState.ERROR),
    ("request refused as invalid", Facts(signed_in=True, refusal=refused("INVALID_REQUEST")),
     SeatState.ERROR),
    ("forbidden", Facts(signed_in=True, refusal=refused("FORBIDDEN")), SeatState.ERROR),
]


@pytest.mark.parametrize(("facts", "expected"), [(f, s) for _, f, s in TABLE],
                         ids=[name for name, _, _ in TABLE])
def test_decide_table(facts: Facts, expected: SeatState) -> None:
    """Each situation of DESIGN.md's table gives its state."""
    assert decide(facts, NOW) is expected


def test_every_state_is_reachable() -> None:
    """The table above covers all eleven states."""
    assert {s for _, _, s in TABLE} == set(SeatState)


def test_state_values_are_the_contract() -> None:
    """The serialized values are DESIGN.md's (plus `released`), in precedence order."""
    assert [s.value for s in SeatState] == [
        "logout_pending", "signed_out", "released", "acquiring", "active", "offline",
        "seat_limit_reached", "discovery", "support_expired", "license_expired",
        "revoked", "error"]
    assert json.dumps(SeatState.ACTIVE) == '"active"'


def test_logout_pending_beats_signed_out() -> None:
    """A queued logout shows even though the account is already gone locally."""
    assert decide(Facts(logout_pending=True), NOW) is SeatState.LOGOUT_PENDING


def test_held_seat_beats_stale_refusal() -> None:
    """A valid lease outranks a refusal that does not end it (table order)."""
    facts = Facts(signed_in=True, lease_expires_at=LATER, refusal=refused("SEAT_LIMIT_REACHED"))
    assert decide(facts, NOW) is SeatState.ACTIVE


def test_expiry_uses_server_clock() -> None:
    """A server clock a day ahead makes a lease that looks fresh locally run out."""
    facts = Facts(signed_in=True, lease_expires_at=LATER, clock_skew_s=86_400)
    assert not lease_held(facts, NOW)
    assert decide(facts, NOW) is SeatState.ACQUIRING
    behind = Facts(signed_in=True, lease_expires_at=EARLIER, clock_skew_s=-3_600)
    assert decide(behind, NOW) is SeatState.ACTIVE


def test_lease_expiry_is_exclusive() -> None:
    """At the very second of expires_at the seat is no longer held."""
    assert not lease_held(Facts(signed_in=True, lease_expires_at=NOW), NOW)


def test_explain_offline_and_expired_offline() -> None:
    """The reason text says until when a seat is held, or that it ran out."""
    held = Facts(signed_in=True, lease_expires_at=LATER, contact_failure="timeout")
    assert explain(held, NOW) == "Offline; seat held until 2026-11-29T08:10:00Z."
    gone = Facts(signed_in=True, lease_expires_at=EARLIER, contact_failure="timeout")
    assert "ran out at 2026-11-29T07:50:00Z" in (explain(gone, NOW) or "")
    assert explain(Facts(signed_in=True, error="fix it"), NOW) == "fix it"
    assert explain(Facts(signed_in=True, lease_expires_at=LATER), NOW) is None
    limit = Facts(signed_in=True, refusal=refused("SEAT_LIMIT_REACHED"))
    assert explain(limit, NOW) == "refused: SEAT_LIMIT_REACHED"


CODES = st.sampled_from(["SEAT_LIMIT_REACHED", "NO_LICENSE", "SUPPORT_EXPIRED",
                         "LICENSE_EXPIRED", "LEASE_REVOKED", "LEASE_EXPIRED", "NOT_FOUND",
                         "UNAUTHENTICATED", "FORBIDDEN", "INVALID_REQUEST", "RATE_LIMITED",
                         "UNAVAILABLE", "REMOTE_DEACTIVATION_DISABLED", "SOMETHING_NEW"])
TIMES = st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2100, 1, 1),
                     timezones=st.just(dt.UTC))
FACTS = st.builds(
    Facts,
    signed_in=st.booleans(),
    lease_expires_at=st.none() | TIMES,
    refusal=st.none() | st.builds(SeatRefusal, code=CODES, message=st.text(max_size=10)),
    logout_pending=st.booleans(),
    pending_items=st.integers(0, 5),
    contact_failure=st.none() | st.sampled_from(["timeout", "refused", "reset", "tls"]),
    clock_skew_s=st.floats(-1e6, 1e6),
    server_time_floor=st.none() | TIMES,
    seat_released=st.booleans(),
    discovery_chosen=st.booleans(),
    error=st.none() | st.text(min_size=1, max_size=10),
)
ENDED_BY_SERVER = {"LEASE_EXPIRED", "LEASE_REVOKED", "NOT_FOUND", "UNAUTHENTICATED"}


def seat_still_held(facts: Facts, now: dt.datetime) -> bool:
    """Written out here, not taken from the code under test: a lease, not ended by the
    server, whose expiry is ahead on the server's clock (local time plus the measured skew,
    never earlier than the server time already seen)."""
    if facts.lease_expires_at is None:
        return False
    if facts.refusal is not None and facts.refusal.code in ENDED_BY_SERVER:
        return False
    server_clock = now + dt.timedelta(seconds=facts.clock_skew_s)
    if facts.server_time_floor is not None and facts.server_time_floor > server_clock:
        server_clock = facts.server_time_floor
    return server_clock < facts.lease_expires_at


@given(FACTS, TIMES)
def test_decide_is_total(facts: Facts, now: dt.datetime) -> None:
    """Any facts at any time give exactly one state, and an explanation never fails."""
    assert isinstance(decide(facts, now), SeatState)
    explain(facts, now)


@given(FACTS, TIMES)
def test_pending_logout_always_wins(facts: Facts, now: dt.datetime) -> None:
    """Whatever else is true, a queued logout is what the user sees."""
    facts = Facts(**{**facts.__dict__, "logout_pending": True})
    assert decide(facts, now) is SeatState.LOGOUT_PENDING


@given(FACTS, TIMES)
def test_active_and_offline_exactly_while_the_seat_is_held(facts: Facts, now: dt.datetime
                                                           ) -> None:
    """`active` and `offline` promise a seat: they appear only while the lease is valid on
    the server's clock, and a signed-in device with nothing else to show does show one."""
    shown = decide(facts, now)
    held = seat_still_held(facts, now)
    if shown in (SeatState.ACTIVE, SeatState.OFFLINE):
        assert held
    signed_in = facts.signed_in and not facts.logout_pending and not (
        facts.refusal is not None and facts.refusal.code == "UNAUTHENTICATED")
    if held and signed_in:
        assert shown in (SeatState.ACTIVE, SeatState.OFFLINE)


def test_a_clock_turned_back_does_not_stretch_the_lease() -> None:
    """The local clock a day behind the server time already seen: the lease has run out."""
    seen = LATER + dt.timedelta(seconds=1)
    behind = Facts(signed_in=True, lease_expires_at=LATER, server_time_floor=seen)
    assert decide(behind, NOW - dt.timedelta(days=1)) is SeatState.ACQUIRING
    assert decide(Facts(signed_in=True, lease_expires_at=LATER, server_time_floor=EARLIER),
                  NOW) is SeatState.ACTIVE


@given(FACTS, TIMES)
def test_signed_out_shows_signed_out(facts: Facts, now: dt.datetime) -> None:
    """Without an account and without a queued logout, the state is `signed_out`."""
    facts = Facts(**{**facts.__dict__, "signed_in": False, "logout_pending": False})
    assert decide(facts, now) is SeatState.SIGNED_OUT


def test_status_json_has_stable_keys() -> None:
    """`status --json` always carries the same keys, null where they do not apply."""
    empty = Status(state=SeatState.SIGNED_OUT).to_json()
    full = Status(
        state=SeatState.SEAT_LIMIT_REACHED, server="https://licenses.example", account="a@b.c",
        license_name="PIX4Dmapper Yearly", seats_used=3, seats_total=3, lease_id="L1",
        lease_expires_at=LATER, holders=(Holder(name="office-pc", id="d1"),),
        pending=(PendingItem(kind="logout", created_at=NOW, attempts=2, last_error="timeout"),),
    ).to_json()
    assert empty.keys() == full.keys()
    assert {"state", "server", "account", "lease", "pending"} <= set(full)
    assert empty["lease"] is None and empty["pending"] == []
    assert full["state"] == "seat_limit_reached"
    assert full["lease"] == {"lease_id": "L1", "expires_at": "2026-11-29T08:10:00Z"}
    assert full["license"] == {"name": "PIX4Dmapper Yearly", "seats_used": 3, "seats_total": 3,
                               "max_borrow_s": None}
    assert full["borrowed_until"] is None
    assert full["seat_holders"][0]["name"] == "office-pc"
    assert full["pending"][0] == {"kind": "logout", "created_at": "2026-11-29T08:00:00Z",
                                  "attempts": 2, "last_error": "timeout"}
    json.dumps(full)


def test_chosen_discovery_says_so() -> None:
    """Discovery mode chosen by the user is explained as a choice, not as a refusal."""
    chosen = Facts(signed_in=True, discovery_chosen=True)
    assert "as you chose" in (explain(chosen, NOW) or "")
    server_said = Facts(signed_in=True, refusal=refused("NO_LICENSE"))
    assert explain(server_said, NOW) == "refused: NO_LICENSE"


def test_a_borrowed_seat_is_held_offline_until_borrowed_until_and_says_so() -> None:
    """Borrowed: active or offline as any held seat, explained with until when; then gone."""
    days = NOW + dt.timedelta(days=3)
    borrowed = Facts(signed_in=True, lease_expires_at=days, borrowed_until=days)
    assert decide(borrowed, NOW) is SeatState.ACTIVE
    assert borrowed_until(borrowed, NOW) == days
    assert explain(borrowed, NOW) is None  # `borrowed_until` says it; the tray's line too
    offline = Facts(signed_in=True, lease_expires_at=days, borrowed_until=days,
                    contact_failure="timeout")
    assert decide(offline, NOW + dt.timedelta(days=2)) is SeatState.OFFLINE
    assert "seat borrowed until 2026-12-02T08:00:00Z" in (explain(offline, NOW) or "")
    after = days + dt.timedelta(seconds=1)
    assert decide(offline, after) is SeatState.ACQUIRING
    assert borrowed_until(offline, after) is None
    assert "ran out" in (explain(offline, after) or "")


def test_a_borrowed_seat_the_server_ended_is_not_borrowed() -> None:
    """A revocation at the next contact ends the borrow at once, whatever the date said."""
    days = NOW + dt.timedelta(days=3)
    revoked = Facts(signed_in=True, lease_expires_at=days, borrowed_until=days,
                    refusal=refused("LEASE_REVOKED"))
    assert decide(revoked, NOW) is SeatState.REVOKED
    assert borrowed_until(revoked, NOW) is None


APP = Facts(signed_in=True, seat_mode="app")
APP_TABLE = [
    ("app mode, no session, no seat", APP, SeatState.RELEASED, False),
    ("app mode, a session, no seat yet", replace(APP, app_sessions=1), SeatState.ACQUIRING,
     True),
    ("app mode, a session, seat held", replace(APP, app_sessions=2, lease_expires_at=LATER),
     SeatState.ACTIVE, True),
    ("app mode, last session closed, idle wait running",
     replace(APP, lease_expires_at=LATER, app_idle_until=LATER), SeatState.ACTIVE, True),
    ("app mode, idle wait over, seat still held",
     replace(APP, lease_expires_at=LATER, app_idle_until=EARLIER), SeatState.ACTIVE, False),
    ("app mode, idle wait but no seat held", replace(APP, app_idle_until=LATER),
     SeatState.RELEASED, False),
    ("app mode, idle wait over, seat borrowed",
     replace(APP, lease_expires_at=LATER, borrowed_until=LATER, app_idle_until=EARLIER,
             contact_failure="timeout"), SeatState.OFFLINE, True),
    ("app mode, no session, borrowed seat ran out",
     replace(APP, lease_expires_at=EARLIER, borrowed_until=EARLIER), SeatState.RELEASED, False),
    ("app mode, a session, every seat taken",
     replace(APP, app_sessions=1, refusal=refused("SEAT_LIMIT_REACHED")),
     SeatState.SEAT_LIMIT_REACHED, True),
    ("login mode, no session", Facts(signed_in=True, lease_expires_at=LATER), SeatState.ACTIVE,
     True),
]


@pytest.mark.parametrize(("facts", "state", "wanted"), [row[1:] for row in APP_TABLE],
                         ids=[row[0] for row in APP_TABLE])
def test_app_seat_mode(facts: Facts, state: SeatState, wanted: bool) -> None:
    """`app` mode wants a seat while a session is open or a held seat waits out the idle
    time; with none wanted and none held it shows `released`, saying why."""
    assert decide(facts, NOW) is state
    assert app_seat_wanted(facts, NOW) is wanted
    assert app_idle_release_due(facts, NOW) is (lease_held(facts, NOW) and not wanted)
    if state is SeatState.RELEASED:
        assert "No application is using the seat" in (explain(facts, NOW) or "")
