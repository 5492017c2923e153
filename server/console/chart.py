"""The usage chart's geometry: seats used and the peak per day, as shapes an SVG draws.

Pure: figures in, coordinates out; templates/_chart.html draws them. Read in grey scale,
the two series differ by pattern (hatched bars for seats used, solid for the peak; a solid
and a dashed line over long periods), and the license's seats are a dashed line with its
number written beside it.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any

from babel.dates import format_skeleton
from seatkeeper_server.console import words
from seatkeeper_server.i18n import Language

WIDTH, HEIGHT = 720, 300
LEFT, RIGHT, TOP, BOTTOM = 44, 64, 20, 46
PLOT_W, PLOT_H = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
MAX_BARS = 62      # days; beyond, two lines
MAX_LABELLED = 31  # days whose bars carry their numbers


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    value: int
    series: str  # used | peak
    labelled: bool


@dataclass(frozen=True)
class Tick:
    position: float
    text: str


@dataclass(frozen=True)
class Chart:
    """Everything the template needs to draw one license's usage."""

    empty: bool
    mode: str = "bars"  # bars | lines
    bars: list[Bar] = field(default_factory=list)
    used_points: str = ""
    peak_points: str = ""
    x_ticks: list[Tick] = field(default_factory=list)
    y_ticks: list[Tick] = field(default_factory=list)
    total_y: float | None = None
    seats_total: int = 0
    most_used: int = 0
    highest_peak: int = 0
    peak_day: str = ""
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    top: int = TOP
    plot_w: int = PLOT_W
    plot_h: int = PLOT_H


def _step(highest: int) -> int:
    """A tick step of 1, 2 or 5 times a power of ten giving at most five steps."""
    for power in range(10):
        for base in (1, 2, 5):
            step = base * 10 ** power
            if math.ceil(highest / step) <= 5:
                return step
    return 10 ** 10


def _day_label(day: str, first: bool, partial: bool, language: Language) -> str:
    """The first day with its year, then day and month (`Nov 29`, `29. Nov.`); `today`."""
    if partial:
        return language.gettext(words.TODAY)
    if first:
        return language.date(day)
    return format_skeleton("MMMd", dt.date.fromisoformat(day), locale=language.locale)


def build(figures: dict[str, Any], language: Language) -> Chart:
    """The chart of `usage.license_usage`'s answer (oldest day first), its words in
    `language`."""
    days = figures["days"]
    total = int(figures["seats_total"])
    if not days:
        return Chart(empty=True, seats_total=total)
    used = [int(d["seats_used"]) for d in days]
    peaks = [int(d["peak"]) for d in days]
    step = _step(max(1, total, *used, *peaks))
    top_value = step * math.ceil(max(1, total, *used, *peaks) / step)

    def y(value: int) -> float:
        return round(TOP + PLOT_H - value / top_value * PLOT_H, 1)

    slot = PLOT_W / len(days)
    bars: list[Bar] = []
    mode = "bars" if len(days) <= MAX_BARS else "lines"
    if mode == "bars":
        width = round(slot * 0.4, 1)
        for i, (u, p) in enumerate(zip(used, peaks, strict=True)):
            x = LEFT + i * slot + slot * 0.1
            for offset, value, series in ((0.0, u, "used"), (width, p, "peak")):
                bars.append(Bar(round(x + offset, 1), y(value), width,
                                round(TOP + PLOT_H - y(value), 1), value, series,
                                len(days) <= MAX_LABELLED and value > 0))

    def points(values: list[int]) -> str:
        return " ".join(f"{round(LEFT + (i + 0.5) * slot, 1)},{y(v)}"
                        for i, v in enumerate(values))

    every = max(1, math.ceil(len(days) / 8))
    x_ticks = [Tick(round(LEFT + (i + 0.5) * slot, 1),
                    _day_label(d["day"], i == 0, d["partial"] and i > 0, language))
               for i, d in enumerate(days) if i % every == 0 or i == len(days) - 1]
    if len(x_ticks) > 1 and x_ticks[-1].position - x_ticks[-2].position < 40:
        del x_ticks[-2]  # the last day's label always shows; its neighbour makes room
    best = max(range(len(days)), key=lambda i: (peaks[i], -i))
    return Chart(empty=False, mode=mode, bars=bars,
                 used_points=points(used) if mode == "lines" else "",
                 peak_points=points(peaks) if mode == "lines" else "",
                 x_ticks=x_ticks,
                 y_ticks=[Tick(y(v), str(v)) for v in range(0, top_value + 1, step)],
                 total_y=y(total), seats_total=total, most_used=max(used),
                 highest_peak=peaks[best], peak_day=days[best]["day"])
