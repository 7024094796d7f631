"""How a copy was moved, for the person who looks at a match (check.py explained()): mirrored, turned by a
quarter or a half, or one picture a part of the other (cropped, or set in a larger picture). The same-frame
check only needs to know that the frame changed, and fails such a pair on its first measure that differs,
most often the fit of the whole picture ("the picture differs"); a reviewer is better told how it changed."""

from __future__ import annotations

import cv2
import numpy as np

from .signature import PLAIN, Frame

MOVES = {  # the seven ways to mirror or turn a square picture by quarter turns, by what the report calls them
    "mirrored": (np.fliplr, np.flipud, np.transpose, lambda x: np.rot90(x, 2).T),
    "turned": (lambda x: np.rot90(x, 1), lambda x: np.rot90(x, 2), lambda x: np.rot90(x, 3)),
}
MIN_ALIKE = 0.7  # the 64-px gray pictures, one of them moved so, correlate at least this ...
MOVED_RESIDUAL = 0.5  # ... and differ by at most this share of what they differ by as they are (the mean square
#   difference of two standardised pictures is 2 (1 - correlation)): a symmetric picture mirrored is itself
PART_SIDE = 96  # the long side the whole picture is searched at for the part (from its 128-px plane where kept)
PART_SHARES = np.geomspace(0.4, 0.92, 10)  # the part's long side as a share of the whole's: a crop keeping 40-92 %
MIN_PART_SIDE = 12  # pixels: a part smaller than this at PART_SIDE has too little to find
MIN_PART = 0.85  # the part found correlates with the picture there at least this (normalised) ...
MIN_PART_GAIN = 0.15  # ... and by this much more than the two pictures, squashed, as they are


def moved(a: Frame, b: Frame) -> str | None:
    """How one of the pair moved: "mirrored" or "turned" where one of its 64-px gray pictures, mirrored or turned
    by quarter turns, is the other, else "cropped" where one is found in the other at 40-92 % of its size;
    None for neither."""
    za, zb = _standard(a.fine_soft), _standard(b.fine_soft)
    if za is None or zb is None:
        return None
    as_is = float((za * zb).mean())
    alike, how = max((float((za * move(zb)).mean()), how) for how, ways in MOVES.items() for move in ways)
    if alike >= MIN_ALIKE and 1 - alike <= MOVED_RESIDUAL * (1 - as_is):
        return how

    def enough(part: float) -> bool:  # found, and not merely as alike as the pictures are as they are
        return part >= MIN_PART and part - as_is >= MIN_PART_GAIN

    return "cropped" if enough(_part_found(a, b, enough)) or enough(_part_found(b, a, enough)) else None


def _standard(plane: np.ndarray) -> np.ndarray | None:
    """A plane at zero mean and unit spread (its correlation with another is the mean product); None where it is
    one level all over."""
    spread = float(plane.std())
    return None if spread < PLAIN else (plane - plane.mean()) / spread


def _part_found(whole: Frame, part: Frame, enough) -> float:
    """The best normalised correlation of `part`, at each of PART_SHARES of `whole`'s size, with the same-sized
    windows of `whole` (both gray, at their own aspect ratios): near 1 where `part` is a region of it. The
    search stops where the best so far is `enough`: moved() asks no more."""
    big = _unsquashed(whole, PART_SIDE)
    best = -1.0
    for share in PART_SHARES:
        small = _unsquashed(part, share * PART_SIDE)
        if min(small.shape) < MIN_PART_SIDE or small.shape[0] > big.shape[0] or small.shape[1] > big.shape[1]:
            continue
        if float(small.std()) >= PLAIN:
            best = max(best, float(cv2.matchTemplate(big, small, cv2.TM_CCOEFF_NORMED).max()))
            if enough(best):
                break
    return best


def _unsquashed(frame: Frame, long_side: float) -> np.ndarray:
    """The picture in gray at its own aspect ratio and this long side, from the finest plane it keeps."""
    plane = frame.finer if frame.finer is not None else frame.fine
    w, h = frame.sides(long_side)
    return cv2.resize(plane.astype(np.float32), (max(1, round(w)), max(1, round(h))), interpolation=cv2.INTER_AREA)
