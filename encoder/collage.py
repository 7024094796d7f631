"""The cells of a collage: pictures set side by side or in a grid in one image (a marketplace listing, a
before-and-after, a post of four photos). Neither the embedding nor the hashes of the whole image know any of
its pictures, so each cell's perceptual hash is kept beside the image's own (encoder/phash.py): a photo whose
hash is that of a cell is proposed as a pair, and verification (pipeline/verify.py) decides it.

A cell ends at a seam: a straight line across the whole image where the pictures on either side of it step
from one to the other in most of its lines, far more than each picture changes from one line to the next
beside it. The decode a seam is looked for in is drafted (a JPEG's DCT scaling), which blurs it over a pixel,
so the step is measured over two pixels."""
from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

STEP = 3.0  # a seam's mean step across it (levels, gray, over two pixels) is this many times the larger of the
#   mean steps two pixels either side of it, and the largest of the three in LINES of the lines across it; or
#   WEAK_STEP times, in MOST_LINES of them (a seam between textured pictures) ...
LINES, WEAK_STEP, MOST_LINES = 0.5, 1.5, 0.8
LEAST_STEP = 8.0  # ... and at least this many levels
GUTTER = 0.05  # of the side: seams this close together bound a gutter between two cells (a plain band), left out
LEAST_CELL = 0.2  # of the side: every cell is at least this wide and high (a seam that would leave a thinner
#   one is no seam: a pole or a window frame in a photo)
APART = 2  # a seam's (or a gutter's) two sides are compared this many pixels out from it: a line drawn across a
#   picture, up to a few pixels thick, has the same picture either side of it
MOST_CELLS = 6  # more cells than this is a pattern of straight lines (tiles, shelves), not a collage
LEAST_SIDE = 48  # pixels: smaller pictures are not split
MOST_SIDE = 1024  # pixels: a larger decode is searched reduced by a whole factor to at most this


def cells(im: Image.Image) -> list[tuple[int, int, int, int]]:
    """The boxes (left, top, right, bottom) of a collage's cells, in a decode; [] for a single picture. Seams
    across the whole image are looked for first between columns, then within each column between rows, then
    the other way round (a grid of four has both; a row of three, or a picture beside two stacked ones, one)."""
    if min(im.size) < LEAST_SIDE:
        return []
    k = -(-max(im.size) // MOST_SIDE)  # a decode larger than that (a picture opened at its full size) is looked at reduced
    if k > 1:
        return [(x0 * k, y0 * k, min(x1 * k, im.width), min(y1 * k, im.height))
                for x0, y0, x1, y1 in cells(im.reduce(k))]
    gray = np.asarray(im.convert("L"))
    whole = {False: _spans(gray), True: _spans(np.ascontiguousarray(gray.T))}  # most pictures: no seam either way
    found = set()
    for rows_first in (False, True):
        g = gray.T if rows_first else gray
        for x0, x1 in whole[rows_first]:
            inner = whole[not rows_first] if (x0, x1) == (0, g.shape[1]) else _spans(np.ascontiguousarray(g[:, x0:x1].T))
            for y0, y1 in inner:
                found.add((y0, x0, y1, x1) if rows_first else (x0, y0, x1, y1))
    found.discard((0, 0, im.width, im.height))
    return sorted(found) if len(found) <= MOST_CELLS else []


def _spans(g: np.ndarray) -> list[tuple[int, int]]:
    """The column spans [start, end) of `g` (rows x columns) between its seams; [(0, width)] where it has none."""
    h, w = g.shape
    if w < LEAST_SIDE or h < LEAST_SIDE // 2:
        return [(0, w)]
    lines = g[::2]  # every other line along the seam: enough for the means and shares below, at half the cost
    steps = cv2.absdiff(lines[:, 2:], lines[:, :-2])  # column j: the step from column j to j + 2
    across = steps[:, 2:w - 4]  # at column x: the step from x - 1 to x + 1 ...
    beside = cv2.max(steps[:, :w - 6], steps[:, 4:])  # ... and from x - 3 to x - 1 or from x + 1 to x + 3
    step, near, most = (cv2.reduce(a, 0, cv2.REDUCE_AVG, dtype=cv2.CV_32F).ravel()
                        for a in (across, beside, cv2.compare(across, beside, cv2.CMP_GT)))
    seam = np.flatnonzero((step >= LEAST_STEP) & (((step >= STEP * near) & (most >= 255 * LINES))
                                                  | ((step >= WEAK_STEP * near) & (most >= 255 * MOST_LINES))))
    if not len(seam):
        return [(0, w)]
    gaps = []  # (first column left out, first column kept after, strength), columns x = index + 3
    for run in np.split(seam, np.flatnonzero(np.diff(seam) > 1) + 1):
        # one seam column: the two pictures blended in it (left out); two: the edge lies between them
        first, last = int(run[0]) + 3, int(run[-1]) + 3
        gaps.append(((first, first + 1) if first == last else (first + 1, last)) + (float(step[run].max()),))
    found = []
    for group in _close(gaps, GUTTER * w):
        a, b = min(gap[0] for gap in group), max(gap[1] for gap in group)
        if _differ(g, a - 1 - APART, b + APART):  # else a line across one picture (a grid's, a pole), or its edges
            found.append((max(gap[2] for gap in group), a, b))
    cuts: list[tuple[int, int]] = []
    for _, a, b in sorted(found, reverse=True):  # the strongest first
        trial = sorted([*cuts, (a, b)])
        edges = [0, *(v for cut in trial for v in cut), w]
        if all(end - start >= LEAST_CELL * w for start, end in zip(edges[::2], edges[1::2])):
            cuts = trial
    edges = [0, *(v for cut in cuts for v in cut), w]
    return list(zip(edges[::2], edges[1::2]))


def _close(gaps: list, within: float) -> list[list]:
    """The gaps (first, end, strength), in order, in groups whose neighbours are at most `within` apart: the two
    edges of a gutter between two pictures, or of a line across one picture."""
    groups: list[list] = []
    for gap in sorted(gaps):
        if groups and gap[0] - groups[-1][-1][1] <= within:
            groups[-1].append(gap)
        else:
            groups.append([gap])
    return groups


def _differ(g: np.ndarray, left: int, right: int) -> bool:
    """Whether columns `left` and `right` of `g`, either side of a seam or a gutter, belong to two pictures: they
    differ as a seam's sides do, not as the two sides of a line drawn across one picture do."""
    w = g.shape[1]
    if left < 2 or right > w - 3:
        return False
    columns = g[:, [left - 2, left, right, right + 2]].astype(np.float32)
    across = float(np.abs(columns[:, 2] - columns[:, 1]).mean())
    beside = max(float(np.abs(columns[:, 1] - columns[:, 0]).mean()), float(np.abs(columns[:, 3] - columns[:, 2]).mean()))
    return across >= max(LEAST_STEP, WEAK_STEP * beside)
