"""Windows lane fixtures: the Windows CPython under Wine with this checkout's wheel installed."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.windows import wine


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The seatkeeper wheel built from the work tree."""
    return wine.build_wheel(tmp_path_factory.mktemp("wheel"))


@pytest.fixture(scope="session", autouse=True)
def windows_lane(wheel: Path) -> Iterator[None]:
    """The prefix, with this checkout installed and one wineserver for the whole session.

    Under CI the lane never skips: a prefix that is missing fails every test, saying why.
    """
    missing = wine.lane_missing()
    if missing:
        if os.environ.get("CI") or os.environ.get("SEATKEEPER_TEST_REQUIRE_TESTS") == "1":
            pytest.fail(f"the Windows lane cannot run: {missing}")
        pytest.skip(f"the Windows lane cannot run: {missing}")
    wine.install_checkout(wheel)
    wine.start_wineserver()
    try:
        yield
    finally:
        wine.stop_wineserver()
