"""Where the picture is when it is set in a plain canvas: a phone's screenshot of a photo (black above and below,
the clock and icons in the bar at the top), a film still letterboxed or pillarboxed, a picture in a plain frame
or a viewer's window. Squashed whole to the encoder's square input, such a copy shows its picture as a thin
strip the encoder does not recognise; given the picture alone, it embeds as its original does. The same-frame
check still compares the whole pictures: a copy in a canvas is a match, never a duplicate."""
from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

TOLERANCE = 12  # levels (0..255, in any channel) within which a pixel has the bar's colour: JPEG's noise
PLAIN = 0.9  # a line of a bar has at least this share of its pixels in the bar's colour (a status bar's clock
#   and icons cover less than a tenth of it) ...
PICTURE = 0.5  # ... a line of the picture less than this share
EDGE = 0.01  # of the side (at least 2 lines): how abruptly a bar gives way to the picture. A dark photo on a
#   black ground (a galaxy, an object lit against the night) fades into it over more lines: no bar
LEAST_BAR = 0.04  # of the side: bars on two opposite sides at least this deep make a canvas ...
MOST_PICTURE = 0.8  # ... where the picture covers at most this share of its area (less is no canvas worth
#   leaving out), and at least LEAST_PICTURE of each side (less is a plain picture with a line across it)
LEAST_PICTURE = 0.1
SAMPLED = 3  # a bar's lines are measured on every third pixel along them


def picture_box(im: Image.Image) -> tuple[int, int, int, int] | None:
    """The picture's box (left, top, right, bottom) in an RGB decode where plain bars on two opposite sides set
    it in a larger canvas; None for a picture that fills its frame, as nearly every photo does (the first line
    of a side is looked at, the opposite side's only where it is plain, and further lines only where both
    are). Bars above and below are looked for first, then bars left and right beside the picture between
    them (a page's margins), or, where there are none above and below, the other way round."""
    w, h = im.size
    if min(h, w) < 16:
        return None
    pixels, box = np.asarray(im), [0, 0, w, h]  # one array for every look (each of PIL's costs a copy)
    for first in (True, False):
        if _bars(pixels, box, rows=first):
            _bars(pixels, box, rows=not first)
            break
    left, top, right, bottom = box
    rows = min(top, h - bottom) >= LEAST_BAR * h
    cols = min(left, w - right) >= LEAST_BAR * w
    width, height = right - left, bottom - top
    if not (rows or cols) or width < LEAST_PICTURE * w or height < LEAST_PICTURE * h \
            or width * height > MOST_PICTURE * w * h:
        return None
    return tuple(box)


def _bars(pixels: np.ndarray, box: list[int], rows: bool) -> bool:
    """Narrows `box` (left, top, right, bottom) by the plain bars above and below the picture in it (`rows`),
    or left and right of it, in an RGB decode's `pixels`; whether it found any."""
    left, top, right, bottom = box
    region = pixels[top:bottom, left:right]
    h, w = region.shape[:2]
    first = _plain_colour(region[0] if rows else region[:, 0])
    last = _plain_colour(region[-1] if rows else region[:, -1]) if first is not None else None
    if last is None:
        return False
    colours = (first, last)
    # lines measured on every SAMPLED-th pixel along them: enough to tell 90 % of one colour from under 50 %
    lines, masks, bars = (cv2.resize(region, (-(-w // SAMPLED), h), interpolation=cv2.INTER_NEAREST) if rows
                          else np.ascontiguousarray(region[::SAMPLED])), {}, []
    for colour, from_end in zip(colours, (False, True)):
        key = colour.tobytes()
        if key not in masks:  # bars of one colour on both sides: one mask
            masks[key] = _inside(lines, colour)
        bars.append(_bar(masks[key], rows, from_end))
    if rows:
        box[1], box[3] = top + bars[0], bottom - bars[1]
    else:
        box[0], box[2] = left + bars[0], right - bars[1]
    return any(bars)


def _plain_colour(line: np.ndarray) -> np.ndarray | None:
    """The colour of a line of RGB pixels (n x 3; its median), where PLAIN of them have it, else None."""
    pixels = np.ascontiguousarray(line).reshape(1, -1, 3)
    colour = np.sort(pixels[0], axis=0)[pixels.shape[1] // 2]
    return colour if cv2.countNonZero(_inside(pixels, colour)) >= PLAIN * pixels.shape[1] else None


def _bar(inside: np.ndarray, rows: bool, from_end: bool) -> int:
    """How many lines (rows, or columns) from the first edge (or the last) a bar takes, from the mask of the
    pixels in its colour (_inside), where its plain lines end abruptly in the picture; 0 where they do not."""
    share = cv2.reduce(inside, 1 if rows else 0, cv2.REDUCE_AVG, dtype=cv2.CV_32F).ravel() / 255
    side = len(share)
    share = (share[::-1] if from_end else share)[:round(side * (1 - LEAST_PICTURE))]
    picture = np.flatnonzero(share < PICTURE)
    if not len(picture):
        return 0
    end = int(picture[0])
    plain = np.flatnonzero(share[:end] >= PLAIN)
    if not len(plain) or end - plain[-1] > max(2, EDGE * side) or share[:end].mean() < PLAIN:
        return 0
    return end


def _inside(pixels: np.ndarray, colour: np.ndarray) -> np.ndarray:
    """255 where a pixel is within TOLERANCE of `colour` in every channel, else 0."""
    return cv2.inRange(pixels, tuple(max(0, int(v) - TOLERANCE) for v in colour),
                       tuple(min(255, int(v) + TOLERANCE) for v in colour))
