"""The end of the Windows session under Wine: `wineboot --end-session` sends the agent a real
WM_QUERYENDSESSION and WM_ENDSESSION, then ends it, as Windows does at logoff or shutdown.

The seat is given back on the server before the process ends, within 2 s of the
question; with the server stalled, the release waits in the outbox, the process still
ends promptly, and the next start delivers it. A logoff another program vetoes (sent
here as Windows sends it: WM_QUERYENDSESSION, then WM_ENDSESSION(FALSE)) gives the
seat back and takes it again. With the tray, pystray's hidden window answers; headless,
a hidden window of the agent's own does.
"""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import time
from collections.abc import Iterator

import pytest

from tests.scenarios.common import ScenarioServer
from tests.support.api import Api
from tests.support.proxy import FaultProxy
from tests.windows import wine
from tests.windows.conftest import DesktopAgentFactory
from tests.windows.desktop import WineDesktop
from tests.windows.desktop_agent import DesktopAgent
from tests.windows.seats import lease_row, leases, seated, wait_until

BUDGET_S = 2.0
SLACK_S = 0.5  # Wine's message round trips and a busy two-core machine
# wineboot waits up to 5 s for an answer; the process then ends at once.
EXIT_S = 10.0
MODES = [pytest.param(False, id="tray"), pytest.param(True, id="headless")]
WM_QUERYENDSESSION = 0x0011
WM_ENDSESSION = 0x0016


@pytest.fixture
def proxy(server: ScenarioServer) -> Iterator[FaultProxy]:
    with FaultProxy(server.port) as fault_proxy:
        yield fault_proxy


def end_session(desktop: WineDesktop) -> subprocess.Popen[bytes]:
    """`wineboot --end-session` on the desktop, as Windows' logoff (no pipes: it may linger)."""
    return subprocess.Popen(["wine", "wineboot", "--end-session"],
                            env=wine.wine_env(desktop.env), stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def asked_at(agent: DesktopAgent) -> float:
    """When WM_QUERYENDSESSION reached the agent (its log's time stamp), as a Unix time."""
    found = re.findall(r"^(\S+ \S+) INFO seatkeeper.platform: WM_QUERYENDSESSION",
                       agent.logs_text(), re.MULTILINE)
    assert found, f"the agent never got WM_QUERYENDSESSION:\n{agent.logs_tail()}"
    return dt.datetime.strptime(found[-1], "%Y-%m-%d %H:%M:%S,%f").timestamp()


def watch_the_end(agent: DesktopAgent, db: ScenarioServer, lease_id: str
                  ) -> tuple[float | None, float]:
    """Poll the server's database and the process until it ends: (released_at, ended_at),
    Unix times as this test saw them; the release is checked before the process each
    round, so a release seen no later than the end happened before it."""
    assert agent.proc is not None
    released = None
    deadline = time.monotonic() + EXIT_S + 5
    while True:
        now = time.time()
        if released is None and lease_row(db.db_path, lease_id)["released_at"] is not None:
            released = now
        if agent.proc.poll() is not None:
            if released is None and lease_row(db.db_path, lease_id)["released_at"] is not None:
                released = now
            return released, time.time()
        assert time.monotonic() < deadline, f"the agent did not end:\n{agent.logs_tail()}"
        time.sleep(0.02)


@pytest.mark.parametrize("headless", MODES)
def test_end_session_releases_the_seat_before_the_process_ends(
        desktop: WineDesktop, make_desktop_agent: DesktopAgentFactory,
        server: ScenarioServer, api: Api, headless: bool) -> None:
    """WM_QUERYENDSESSION: the server shows the seat released within 2 s, before the end."""
    agent, license, lease_id = seated(make_desktop_agent, server, api, "logoff-pc",
                                      headless=headless)
    if headless:  # the hidden window that hears the end of the session
        assert desktop.find("SeatkeeperSessionWindow", "Seatkeeper", agent.pid,
                            visible=False) is not None
    sent = time.time()
    wineboot = end_session(desktop)
    try:
        released, ended = watch_the_end(agent, server, lease_id)
    finally:
        wineboot.wait(timeout=30)
    asked = asked_at(agent)
    assert released is not None, f"the process ended with the seat held:\n{agent.logs_tail()}"
    assert released <= ended
    assert released - asked < BUDGET_S + SLACK_S, (released - asked, released - sent)
    assert ended - sent < EXIT_S
    row = lease_row(server.db_path, lease_id)
    assert row["release_reason"] == "shutdown"
    assert "the seat is released" in agent.logs_text()

    agent.start(headless=headless)  # the login was kept: the next start takes a seat
    wait_until(lambda: len(leases(api, license["id"])) == 1, "a seat again")


def test_end_session_with_the_server_stalled_queues_the_release(
        desktop: WineDesktop, make_desktop_agent: DesktopAgentFactory,
        server: ScenarioServer, api: Api, proxy: FaultProxy) -> None:
    """Server stalled: the process still ends in time; the next start delivers the release."""
    agent, license, lease_id = seated(make_desktop_agent, server, api, "field-pc",
                                      url=proxy.url, headless=True)
    proxy.stall()
    sent = time.time()
    wineboot = end_session(desktop)
    try:
        released, ended = watch_the_end(agent, server, lease_id)
    finally:
        wineboot.wait(timeout=30)
    asked = asked_at(agent)
    assert released is None
    # Out of budget, the agent said yes to Windows and was ended soon after.
    assert ended - asked < BUDGET_S + 2 * SLACK_S, (ended - asked, ended - sent)
    assert "waits in the outbox for the next start" in agent.logs_text()

    proxy.cut()
    proxy.restore()
    agent.start(headless=True)
    # The next start delivers the queued release first (once), then takes a new seat.
    wait_until(lambda: [live["lease_id"] for live in leases(api, license["id"])] not in
               ([], [lease_id]), "a new seat after the queued release")
    row = lease_row(server.db_path, lease_id)
    assert row["release_reason"] == "shutdown", row
    assert proxy.forwarded("DELETE", f"/v1/seats/{lease_id}") == 1
    assert len(leases(api, license["id"])) == 1


@pytest.mark.parametrize("headless", MODES)
def test_cancelled_end_of_session_takes_the_seat_again(
        desktop: WineDesktop, make_desktop_agent: DesktopAgentFactory,
        server: ScenarioServer, api: Api, headless: bool) -> None:
    """Another program vetoes the logoff: WM_ENDSESSION(FALSE) follows, and the agent,
    which gave its seat back when asked, takes one again and runs on."""
    agent, license, lease_id = seated(make_desktop_agent, server, api, "veto-pc",
                                      headless=headless)
    windows = [w for w in desktop.windows() if w.pid == agent.pid and w.cls != "IME"]
    answers = [desktop.send(w.hwnd, WM_QUERYENDSESSION) for w in windows]
    assert all(answers), f"the agent vetoed the end of the session: {answers}"
    assert lease_row(server.db_path, lease_id)["release_reason"] == "shutdown"

    for window in windows:
        desktop.send(window.hwnd, WM_ENDSESSION, 0)  # FALSE: the session goes on
    wait_until(lambda: len(leases(api, license["id"])) == 1, "a seat again")
    assert agent.alive
    assert "shutdown cancelled: asking for a seat again" in agent.logs_text()
