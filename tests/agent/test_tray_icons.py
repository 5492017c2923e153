"""Tray icons: one per state (and a borrowed seat's badge on the held ones) at every size,
told apart by shape alone and in grey scale."""

from __future__ import annotations

from itertools import combinations

import pytest
from PIL import Image, ImageChops, ImageStat
from seatkeeper.core.state import SeatState
from seatkeeper.tray.icons import BORROWABLE, COLOURS, SCALES, SIZES, render, sheet

CASES = [(size, scale) for size in SIZES for scale in SCALES]
# Every icon the tray can show: each state's, and the held states' with the borrowed badge.
VARIANTS = [(kind, False) for kind in SeatState] + [(kind, True) for kind in BORROWABLE]
PAIRS = list(combinations(VARIANTS, 2))
# At least this share of pixels differs between the silhouettes of any two icons.
MIN_SHAPE_DIFFERENCE = 0.05
# Mean grey-level difference (0-255) between any two icons, on a light and on a dark panel.
MIN_GREY_DIFFERENCE = 10.0
PANELS = ((255, 255, 255, 255), (32, 32, 32, 255))


def silhouette(icon: Image.Image) -> Image.Image:
    """Where the icon is opaque: its shape, whatever its colour."""
    return icon.getchannel("A").point(lambda value: 255 if value >= 128 else 0)


def grey_on(icon: Image.Image, panel: tuple[int, int, int, int]) -> Image.Image:
    """The icon as a grey-scale screen (or a colour-blind eye) shows it on a panel."""
    base = Image.new("RGBA", icon.size, panel)
    base.alpha_composite(icon)
    return base.convert("L")


def share_differing(a: Image.Image, b: Image.Image) -> float:
    return ImageChops.difference(a, b).histogram()[255] / (a.width * a.height)


@pytest.mark.parametrize(("size", "scale"), CASES, ids=[f"{s}px@{k}x" for s, k in CASES])
def test_every_state_has_its_own_shape(size: int, scale: int) -> None:
    """Any two states' icons differ in outline, not only in colour; a borrowed seat's too."""
    shapes = {v: silhouette(render(v[0], size, scale, borrowed=v[1])) for v in VARIANTS}
    for a, b in PAIRS:
        assert share_differing(shapes[a], shapes[b]) >= MIN_SHAPE_DIFFERENCE, (a, b)


@pytest.mark.parametrize(("size", "scale"), CASES, ids=[f"{s}px@{k}x" for s, k in CASES])
def test_every_state_reads_in_grey_scale(size: int, scale: int) -> None:
    """In grey scale, on a light or a dark panel, any two icons look clearly different."""
    for panel in PANELS:
        greys = {v: grey_on(render(v[0], size, scale, borrowed=v[1]), panel)
                 for v in VARIANTS}
        for a, b in PAIRS:
            mean = ImageStat.Stat(ImageChops.difference(greys[a], greys[b])).mean[0]
            assert mean >= MIN_GREY_DIFFERENCE, (a, b, panel)


@pytest.mark.parametrize("kind", list(SeatState), ids=[kind.value for kind in SeatState])
def test_icon_size_colour_and_transparency(kind: SeatState) -> None:
    """Each icon has the asked pixel size, the state's colour, and a transparent surround."""
    for size, scale in CASES:
        icon = render(kind, size, scale)
        assert icon.mode == "RGBA" and icon.size == (size * scale, size * scale)
    icon = render(kind, 64)
    colours = icon.getcolors(maxcolors=64 * 64) or []
    opaque = [(count, pixel) for count, pixel in colours if isinstance(pixel, tuple)
              and pixel[3] == 255]
    assert sum(count for count, _ in opaque) > 64 * 64 // 10
    assert max(opaque)[1] == COLOURS[kind]
    assert icon.getchannel("A").getpixel((0, 0)) == 0


def test_the_borrowed_badge_is_only_for_a_held_seat() -> None:
    """Active and offline (a borrowed seat is one of these) have the badge; other states,
    which hold no seat, are drawn as they are."""
    assert set(BORROWABLE) == {SeatState.ACTIVE, SeatState.OFFLINE}
    for kind in BORROWABLE:
        badged = render(kind, 64, borrowed=True)
        assert badged.getchannel("A").getpixel((0, 0)) == 0
        opaque = [(n, px) for n, px in badged.getcolors(64 * 64) or []
                  if isinstance(px, tuple) and px[3] == 255]
        assert max(opaque)[1] == COLOURS[kind]  # still the state's colour, mostly
    plain = render(SeatState.RELEASED, 64)
    assert render(SeatState.RELEASED, 64, borrowed=True).tobytes() == plain.tobytes()


def test_sizes_cover_what_platforms_ask() -> None:
    """16 to 64 pixels, each also at 2x for high-density screens."""
    assert min(SIZES) == 16 and max(SIZES) == 64 and 2 in SCALES
    with pytest.raises(ValueError):
        render(SeatState.ACTIVE, 0)


def test_sheet_shows_every_icon_in_colour_and_grey() -> None:
    """The documentation's sheet has one column per state and two rows."""
    image = sheet(32)
    assert image.width > len(SeatState) * 32 and image.height > 64
