"""The fleet simulator's chart, drawn with Pillow (already the agent's dependency): no plotting
library to install for one PNG."""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

WIDTH, PANEL, LEFT, RIGHT, TOP = 1100, 190, 80, 20, 40
COLOURS = {"ok": (30, 120, 200), "shed": (230, 150, 20), "errors": (200, 40, 40),
           "timeouts": (120, 0, 120), "p50_ms": (30, 150, 60), "p99_ms": (200, 40, 40),
           "back": (30, 120, 200)}
PHASE_SHADE = {"steady": (255, 255, 255), "reclaim": (240, 246, 255),
               "outage": (255, 236, 236), "storm": (255, 248, 230), "after": (245, 255, 245)}


def _panel(draw: ImageDraw.ImageDraw, top: int, series: list[dict[str, Any]], keys: list[str],
           title: str, t_max: float) -> None:
    bottom = top + PANEL - 30
    values = [row[k] or 0 for row in series for k in keys]
    v_max = max([*values, 1.0])
    x = lambda t: LEFT + (WIDTH - LEFT - RIGHT) * t / max(1.0, t_max)  # noqa: E731
    y = lambda v: bottom - (bottom - top) * v / v_max  # noqa: E731
    for row, nxt in itertools.pairwise(series):
        draw.rectangle([x(row["t"]), top, x(nxt["t"]), bottom],
                       fill=PHASE_SHADE.get(row["phase"], (255, 255, 255)))
    draw.rectangle([LEFT, top, WIDTH - RIGHT, bottom], outline=(120, 120, 120))
    draw.text((LEFT, top - 14), title, fill=(0, 0, 0))
    for fraction in (0.0, 0.5, 1.0):
        draw.text((8, y(v_max * fraction) - 6), f"{v_max * fraction:,.0f}", fill=(60, 60, 60))
    for offset, key in enumerate(keys):
        colour = COLOURS[key]
        points = [(x(row["t"]), y(row[key] or 0)) for row in series if row[key] is not None]
        if len(points) > 1:
            draw.line(points, fill=colour, width=2)
        draw.text((WIDTH - RIGHT - 110, top + 4 + 12 * offset), key, fill=colour)


def plot(series: list[dict[str, Any]], phases: dict[str, Any], args: argparse.Namespace,
         path: Path) -> None:
    """Four panels over the run: answers per second, latency, failures, devices back."""
    panels = [(["ok", "shed"], "answers per second: heartbeats renewed (ok), 503 with "
               "Retry-After (shed)"),
              (["p50_ms", "p99_ms"], "latency of renewed heartbeats (sent to answered), ms"),
              (["errors", "timeouts"], "failures per second: network errors (outage), "
               "timeouts"),
              (["back"], "devices answered since the servers came back")]
    image = Image.new("RGB", (WIDTH, TOP + PANEL * len(panels) + 30), "white")
    draw = ImageDraw.Draw(image)
    storm = phases.get("storm", {})
    back = (f"fleet back after {storm['all_back_after_s']} s" if storm.get("all_back_after_s")
            else f"{storm.get('back', 0):,} of {storm.get('devices', 0):,} back within "
            f"{storm.get('seconds', 0):.0f} s")
    draw.text((LEFT, 10), f"Fleet simulator: {args.devices:,} devices, {args.replicas} "
              f"replica(s), TTL {args.ttl} s, heartbeat {args.interval} s, outage "
              f"{args.outage:.0f} s; {back}. Shading: steady, reclaim (blue), outage (red), "
              "storm (amber), after (green).", fill=(0, 0, 0))
    t_max = series[-1]["t"] if series else 1.0
    for number, (keys, title) in enumerate(panels):
        _panel(draw, TOP + 14 + PANEL * number, series, keys, title, t_max)
    draw.text((LEFT, TOP + PANEL * len(panels) + 8), "seconds since the start of the run",
              fill=(60, 60, 60))
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)


def main() -> None:
    """Redraw a chart from a run's JSON: `fleet_plot.py artefacts/bench/fleet_sim.json OUT.png`."""
    import json
    import sys

    result = json.loads(Path(sys.argv[1]).read_text())
    plot(result["series"], result["phases"], argparse.Namespace(**result["config"]),
         Path(sys.argv[2]))


if __name__ == "__main__":
    main()
