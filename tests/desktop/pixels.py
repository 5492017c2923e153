"""What the eye sees in a screenshot: how much of it is one colour, and which icon shape it is."""

from __future__ import annotations

from PIL import Image
from seatkeeper.core.state import SeatState
from seatkeeper.tray import icons


def share_of_colour(image: Image.Image, colour: tuple[int, ...], tolerance: int = 40) -> float:
    """The share of the image's pixels within `tolerance` of `colour` on every channel."""
    pixels = image.width * image.height
    near = 0
    for count, pixel in image.getcolors(maxcolors=pixels) or []:
        if isinstance(pixel, tuple) and all(
                abs(int(a) - int(b)) <= tolerance for a, b in zip(pixel, colour, strict=False)):
            near += count
    return near / pixels


SHAPE_GRID = 24


def _shape(mask: Image.Image) -> list[bool]:
    """A mask cropped to what it covers and scaled to a small grid: position and size go,
    the outline and the glyph cut out of it stay."""
    box = mask.getbbox()
    if box is None:
        return [False] * SHAPE_GRID * SHAPE_GRID
    grid = mask.crop(box).resize((SHAPE_GRID, SHAPE_GRID), Image.Resampling.BILINEAR)
    return [value >= 128 for value in list(grid.getdata())]


def shape_likeness(image: Image.Image, colour: tuple[int, ...], tolerance: int = 60,
                   ) -> dict[SeatState, float]:
    """How well the pixels of `image` in `colour` match each same-coloured state's icon
    (intersection over union of the two shapes, 1.0 = the same)."""
    seen = Image.new("L", image.size, 0)
    seen.putdata([255 if all(abs(int(a) - int(b)) <= tolerance
                             for a, b in zip(pixel, colour, strict=False)) else 0
                  for pixel in list(image.convert("RGB").getdata())])
    observed = _shape(seen)
    scores = {}
    for state, state_colour in icons.COLOURS.items():
        if state_colour[:3] != tuple(colour[:3]):
            continue
        expected = _shape(icons.render(state, 64).getchannel("A"))
        both = sum(a and b for a, b in zip(observed, expected, strict=True))
        either = sum(a or b for a, b in zip(observed, expected, strict=True))
        scores[state] = both / either if either else 0.0
    return scores
