"""Tray icons drawn with Pillow: one per seat state, told apart by shape as well as colour.

Each icon is a silhouette in the state's colour with its glyph cut out of it (so the
panel shows through), drawn on a 100-unit grid at four times the asked size and
scaled down, which keeps 16-pixel icons smooth. Families share a colour, never a
shape: a disc with a check (seat held), with clock hands (offline, still held), with
an hourglass (license expired); a ring for no seat (empty when signed out, with a bar
when released, around an hourglass while a logout waits); three dots while asking;
a diamond for Discovery mode; a square with full slots when every seat is taken; a
shield with an upgrade arrow when Support & Upgrade ended; a stop octagon when the
seat was taken away; a warning triangle for an error. A seat borrowed for offline work
(active or offline) carries a badge: a dark suitcase in a notch cut from the lower right,
so it reads by its outline too.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

from PIL import Image, ImageDraw
from seatkeeper.core.seat_state import SeatState

# The sizes the platforms ask for (16 to 64 px), each also at 2x.
SIZES = (16, 20, 22, 24, 32, 48, 64)
SCALES = (1, 2)
SUPERSAMPLE = 4

GREEN = (46, 158, 68, 255)
AMBER = (224, 140, 0, 255)
RED = (214, 58, 52, 255)
GREY = (122, 128, 138, 255)
NAVY = (28, 52, 120, 255)  # the borrowed badge: darker than every state's colour
CLEAR = (0, 0, 0, 0)

COLOURS: dict[SeatState, tuple[int, int, int, int]] = {
    SeatState.LOGOUT_PENDING: AMBER,
    SeatState.SIGNED_OUT: GREY,
    SeatState.RELEASED: GREY,
    SeatState.ACQUIRING: GREY,
    SeatState.ACTIVE: GREEN,
    SeatState.OFFLINE: AMBER,
    SeatState.SEAT_LIMIT_REACHED: RED,
    SeatState.DISCOVERY: GREY,
    SeatState.SUPPORT_EXPIRED: RED,
    SeatState.LICENSE_EXPIRED: RED,
    SeatState.REVOKED: RED,
    SeatState.ERROR: RED,
}

Point = tuple[float, float]


class Pen:
    """Drawing on the 100-unit grid: `ink` in the state's colour, `cut` to transparent."""

    def __init__(self, image: Image.Image, colour: tuple[int, int, int, int]) -> None:
        self.draw = ImageDraw.Draw(image)
        self.unit = image.width / 100
        self.colour = colour

    def _xy(self, points: list[Point]) -> list[Point]:
        return [(x * self.unit, y * self.unit) for x, y in points]

    def _fill(self, cut: bool) -> tuple[int, int, int, int]:
        return CLEAR if cut else self.colour

    def disc(self, cx: float, cy: float, r: float, *, cut: bool = False) -> None:
        self.draw.ellipse(self._xy([(cx - r, cy - r), (cx + r, cy + r)]), fill=self._fill(cut))

    def ring(self, r_out: float, r_in: float) -> None:
        self.disc(50, 50, r_out)
        self.disc(50, 50, r_in, cut=True)

    def polygon(self, points: list[Point], *, cut: bool = False) -> None:
        self.draw.polygon(self._xy(points), fill=self._fill(cut))

    def box(self, x0: float, y0: float, x1: float, y1: float, *, radius: float = 0,
            cut: bool = False) -> None:
        self.draw.rounded_rectangle(self._xy([(x0, y0), (x1, y1)]), radius=radius * self.unit,
                                    fill=self._fill(cut))

    def line(self, points: list[Point], width: float, *, cut: bool = False) -> None:
        self.draw.line(self._xy(points), fill=self._fill(cut), width=round(width * self.unit),
                       joint="curve")
        for x, y in (points[0], points[-1]):  # round caps
            self.disc(x, y, width / 2, cut=cut)

    def hourglass(self, *, cut: bool = False) -> None:
        self.polygon([(32, 26), (68, 26), (50, 50)], cut=cut)
        self.polygon([(32, 74), (68, 74), (50, 50)], cut=cut)


def _active(pen: Pen) -> None:
    pen.disc(50, 50, 46)
    pen.line([(27, 52), (43, 68), (74, 35)], 13, cut=True)


def _offline(pen: Pen) -> None:
    pen.disc(50, 50, 46)
    pen.line([(50, 50), (50, 22)], 11, cut=True)
    pen.line([(50, 50), (71, 62)], 11, cut=True)


def _license_expired(pen: Pen) -> None:
    pen.disc(50, 50, 46)
    pen.hourglass(cut=True)


def _logout_pending(pen: Pen) -> None:
    pen.ring(47, 35)
    pen.hourglass()


def _signed_out(pen: Pen) -> None:
    pen.ring(46, 30)


def _released(pen: Pen) -> None:
    pen.ring(47, 35)
    pen.box(27, 43, 73, 57, radius=4)


def _acquiring(pen: Pen) -> None:
    for x in (17, 50, 83):
        pen.disc(x, 50, 13)


def _seat_limit(pen: Pen) -> None:
    pen.box(6, 6, 94, 94, radius=14)
    for x in (20, 43, 66):
        pen.box(x, 22, x + 14, 78, radius=3, cut=True)


def _discovery(pen: Pen) -> None:
    pen.polygon([(50, 2), (98, 50), (50, 98), (2, 50)])
    pen.disc(50, 50, 13, cut=True)


def _support_expired(pen: Pen) -> None:
    pen.polygon([(50, 3), (92, 18), (88, 62), (50, 97), (12, 62), (8, 18)])
    pen.polygon([(50, 20), (73, 47), (59, 47), (59, 76), (41, 76), (41, 47), (27, 47)], cut=True)


def _revoked(pen: Pen) -> None:
    a, b = 4, 31  # an octagon: corners cut at 31 of 96
    pen.polygon([(a + b, a), (100 - a - b, a), (100 - a, a + b), (100 - a, 100 - a - b),
                 (100 - a - b, 100 - a), (a + b, 100 - a), (a, 100 - a - b), (a, a + b)])
    pen.box(22, 41, 78, 59, radius=3, cut=True)


def _error(pen: Pen) -> None:
    pen.polygon([(50, 4), (98, 92), (2, 92)])
    pen.box(44, 32, 56, 66, radius=3, cut=True)
    pen.disc(50, 78, 7, cut=True)


def _borrowed_badge(image: Image.Image) -> None:
    """A suitcase in a notch at the lower right: the seat is borrowed for offline work."""
    Pen(image, NAVY).disc(76, 76, 27, cut=True)  # the notch, so the outline changes too
    suitcase = Pen(image, NAVY)
    suitcase.box(66, 55, 86, 70, radius=4)
    suitcase.box(72, 60, 80, 70, cut=True)  # the handle's opening
    suitcase.box(55, 65, 97, 95, radius=5)


GLYPHS: dict[SeatState, Callable[[Pen], None]] = {
    SeatState.LOGOUT_PENDING: _logout_pending,
    SeatState.SIGNED_OUT: _signed_out,
    SeatState.RELEASED: _released,
    SeatState.ACQUIRING: _acquiring,
    SeatState.ACTIVE: _active,
    SeatState.OFFLINE: _offline,
    SeatState.SEAT_LIMIT_REACHED: _seat_limit,
    SeatState.DISCOVERY: _discovery,
    SeatState.SUPPORT_EXPIRED: _support_expired,
    SeatState.LICENSE_EXPIRED: _license_expired,
    SeatState.REVOKED: _revoked,
    SeatState.ERROR: _error,
}


# The states a borrowed seat is shown in (it is held: no state of its own).
BORROWABLE = (SeatState.ACTIVE, SeatState.OFFLINE)


def render(kind: SeatState, size: int = 64, scale: int = 1, *,
           borrowed: bool = False) -> Image.Image:
    """The icon for `kind`, `size` x `size` points at `scale` (RGBA, transparent outside);
    `borrowed` adds the borrowed badge to a held seat's icon (the other states ignore it).

    The cached image is shared: copy it before drawing on it.
    """
    return _render(kind, size, scale, borrowed and kind in BORROWABLE)


@lru_cache(maxsize=96)
def _render(kind: SeatState, size: int, scale: int, borrowed: bool) -> Image.Image:
    if size < 1 or scale < 1:
        raise ValueError(f"an icon of {size} px at {scale}x cannot be drawn")
    pixels = size * scale
    canvas = Image.new("RGBA", (pixels * SUPERSAMPLE,) * 2, CLEAR)
    GLYPHS[kind](Pen(canvas, COLOURS[kind]))
    if borrowed:
        _borrowed_badge(canvas)
    return canvas.resize((pixels, pixels), Image.Resampling.LANCZOS)


def sheet(size: int = 48, background: tuple[int, int, int] = (236, 239, 244)) -> Image.Image:
    """Every icon side by side in state order, then the borrowed seat's (active, offline), in
    colour above and in grey scale below."""
    gap = size // 3
    icons = [(kind, False) for kind in SeatState] + [(kind, True) for kind in BORROWABLE]
    width = len(icons) * (size + gap) + gap
    image = Image.new("RGB", (width, 2 * size + 3 * gap), background)
    for row in range(2):
        for i, (kind, borrowed) in enumerate(icons):
            icon = render(kind, size, borrowed=borrowed)
            if row:
                icon = icon.convert("LA").convert("RGBA")
            image.paste(icon, (gap + i * (size + gap), gap + row * (size + gap)), icon)
    return image
