"""What a pair is compared by, as the pictures are and aligned: shape, colour, contrast, sharpness, tones,
the overlay tests (local differences at 32, 64, 128 and 256 px, in gray and in chroma) and the brightness in
proportion (a vignette)."""

from __future__ import annotations

import cv2
import numpy as np

from .align import IDENTITY, _best_windows, _tone, _unclipped, _warp, _window
from .rules import RULES, Rules
from .signature import (
    FINE,
    FINER,
    FINEST,
    FINEST_FROM,
    GRID,
    PLAIN,
    TRIM_WINDOWS,
    Frame,
    Plane,
    _channel_max,
    _channel_min,
    _channel_sum,
    _chroma,
    _chroma_planes,
    _gradient,
    _soft,
    rank_order,
)

BLUR_LOSS = 0.4  # a blur of sigma s (in pixels at the measuring side) keeps exp(-BLUR_LOSS x s^2) of the fine
#   detail (the median over training photos blurred by 0.7 to 1.5 px)
NOISE_MIN_SIDE = 128  # pictures compared at a smaller side are not compared by their noise (too few blocks, and no
#   half side in the signature's ladder)
PEAK_MIN_SIDE = 288  # pictures smaller than this (long side) are not compared by their tone peaks: too few
#   pixels for a histogram of 256 levels, and a small graphic's PNG has its few colours where a JPEG of it
#   spreads them
CHROMA_MARK_FROM = 160  # pictures smaller than this (long side) are not compared by their chroma at 64 px: JPEG
#   keeps a smaller picture's colour at under 80 px, and a cell of 2 px holds next to none of its own
NEAR_WHITE = 240  # grid cells with a channel this bright in either picture are left out of the chroma mark test:
#   a brightening clips one channel of a light colour before the others, which turns its hue there
NEUTRAL = 6.0  # levels (0..255): a grid cell no channel of which is further than this from their mean is gray
LEAST_NEUTRAL = 24  # ... and a picture with fewer gray cells than this (of 1,024) has too few to tell a tint by
CAST_LEVELS = (8, 215)  # cells with a channel outside these levels in either picture are left out of the cast:
#   dark ones clip, and a tint pushes the brighter pixels of a light cell past white, which leaves the cell gray
#   in the tinted copy
VIGNETTE_RINGS = (0.25, 0.6)  # cells nearer the centre than the first (the squared distance, 1 at the corners) and
#   further than the second: a vignette's centre and its corners
VIGNETTE_LEVEL = 24.0  # cells darker than this in either picture are left out of the vignette test: their
#   ratio is noise (a night sky's cells hold a few stars), and a picture with fewer than VIGNETTE_CELLS of
#   either ring left is not judged
VIGNETTE_GRID = 16  # cells a side the vignette test measures in: 4 px of the 64-px gray picture, which a trim's window
#   resamples more faithfully than the 32-px colour grid (the windows of a building's facade alias there)
VIGNETTE_CELLS = 8
VIGNETTE_SOFTEN = 0.5  # cells: both softened first, so that a trim's texture, a fraction of a cell off, evens out
VIGNETTE_EDGE = 0.1  # ... and cells on an edge (their level changes by more than this share of it from one cell to
#   the next): a trim's alignment, off by a fraction of a cell, moves them (an object's outline on white), where
#   a vignette changes the level by under 2 % a cell
_CENTRED = (np.arange(VIGNETTE_GRID) + 0.5) / VIGNETTE_GRID - 0.5
_RADIUS = 2 * (_CENTRED[None, :] ** 2 + _CENTRED[:, None] ** 2)  # each cell's squared distance from the centre,
#   1 at the corners
EDGE_SLACK = 0.1  # pixels of misalignment forgiven along an edge both pictures have
CLIPPED_NEAR = 10.0  # levels (0..255) from a picture's top level within which a brightened grid cell counts as clipped


def overlay(a: Frame, b: Frame, alignment: tuple[Frame, Frame, np.ndarray] | None = None) -> float:
    """The largest local difference of the two pictures, in gray at 64 px or either chroma channel at 32 (cells
    of 1/16 of each side; one aligned to the other, their tones matched) past four times their median
    difference: an overlay is a local change far above what re-encoding, resizing and trimming spread over
    the whole picture. The `alignment` (larger picture, trim, the trim's window in it) is fitted here if not
    given: a trim both ways on the gray mean profiles, the way that fits better."""
    return max(local for local, _ in _differences(a, b, alignment))


def _differences(a: Frame, b: Frame, alignment: tuple[Frame, Frame, np.ndarray] | None,
                 soften: float = 0.0, clipped: np.ndarray | None = None) -> list[tuple[float, float]]:
    """Per channel (gray, then chroma where both pictures hold it): the local difference overlay() reports, and
    the RMS difference per unit of contrast (`soften`: see _difference), the cells a brightening clips left out
    (`clipped`: _clipped_cells() of the alignment, made here unless given)."""
    src, dst, unit = alignment or _trim_fit(a, b)
    small = min(a.long_side, b.long_side)
    planes = 3 if small >= 2 * GRID else 1  # a JPEG under 64 px holds its colour at under 32 px: gray only
    skip = _cells(_clipped_cells(src, dst, unit) if clipped is None else clipped, 16)
    if small < FINE:  # a picture under 64 px has no detail finer than its own pixels: both are softened to it
        gray = [Plane(f.fine, src.planes[0].sigma * FINE / small) for f in (src, dst)]
        found = [_difference(*gray, unit, skip=skip)]
    else:
        found = [_difference(src.planes[0], dst.planes[0], unit, soften, skip=skip)]
    found += [_difference(x, y, unit, soften, skip=skip) for x, y in zip(src.planes[1:planes], dst.planes[1:planes])]
    if planes == 3:
        for x, y in _clipped_alike(src, dst, unit):
            found[1:] = [min(d, _difference(p, q, IDENTITY, skip=skip)) for d, p, q in zip(found[1:], x, y)]
    return found


def _clipped_cells(src: Frame, dst: Frame, unit: np.ndarray) -> np.ndarray:
    """The grid cells (32 x 32, in `dst`'s frame) where the pair's brightness and contrast change (_tone, of `src`
    over the window `unit` onto `dst`, or back), applied to one picture, takes a channel to within CLIPPED_NEAR
    of the other picture's top level, where it takes the picture's own top past that level: a brightened
    picture clips there pixel by pixel (at white, or, its contrast lowered after, at its new top), which
    changes its gray levels and colour in ways no tone curve of the cells' means predicts (a lit face turned
    white)."""
    found = np.zeros((GRID, GRID), bool)
    for one, other, k, c in _tone_both_ways(src, dst, unit):
        top = float(other.max())
        if k * float(one.max()) + c > top + CLIPPED_NEAR:  # this way the change pushes some levels past the top
            found |= _channel_max(k * one + c) >= top - CLIPPED_NEAR
    return found


def _cells(mask: np.ndarray, cells: int) -> np.ndarray:
    """A grid-cell mask (32 x 32) as one over `cells` x `cells` cells: a cell is in it if any grid cell in it is
    (or, for finer cells, if the grid cell it lies in is)."""
    if cells > GRID:
        return mask.repeat(cells // GRID, axis=0).repeat(cells // GRID, axis=1)
    k = GRID // cells
    return mask if k == 1 else mask.reshape(cells, k, cells, k).any(axis=(1, 3))


def _clipped_alike(src: Frame, dst: Frame, unit: np.ndarray) -> list[tuple[tuple[Plane, Plane], tuple[Plane, Plane]]]:
    """The chroma planes of the two grids (`src` over the window `unit`, then `dst`) with the pair's brightness
    and contrast change (_tone) applied to one of them and clipped to 0..255, each way round where that takes
    1 % of the values over the top where the other picture is there too: a brightened picture whose highlights
    clip in one channel (a sky, a lit face, an orange) changes colour there, which is no overlay."""
    if not (src.clips or dst.clips):
        return []
    out = []
    for way, (one, other, k, c) in enumerate(_tone_both_ways(src, dst, unit)):
        mapped = k * one + c
        if np.count_nonzero((mapped > 255) & (one < 250) & (other >= 250)) >= 0.01 * mapped.size:
            planes = _chroma_planes(np.clip(mapped, 0, 255)), _chroma_planes(other)
            out.append(planes if way == 0 else planes[::-1])
    return out


def _tone_both_ways(src: Frame, dst: Frame, unit: np.ndarray) -> list[tuple[np.ndarray, np.ndarray, float, float]]:
    """The grids of `src` over the window `unit` (x) and of `dst` (y) with the pair's brightness and contrast
    change (_tone) each way, as (one grid, the other, gain, offset taking the one to the other's tones): x to y,
    then y back to x."""
    x = src.grid if unit is IDENTITY else _warp(src.grid, unit)
    y = dst.grid
    gain, offset = _tone(x, y)
    return [(x, y, gain, offset), (y, x, 1 / max(gain, 1e-6), -offset / max(gain, 1e-6))]


def _difference(src: Plane, dst: Plane, unit: np.ndarray, soften: float = 0.0, cells: int = 16, ring: int = 0,
                slack: float = EDGE_SLACK, both_ways: bool = False, skip: np.ndarray | None = None,
                measure=None) -> tuple[float, float]:
    """_differences()'s measures on one channel, `src` resampled over the window `unit`, both softened by
    `soften` more (pixels) where it is not 0 (TRIM_SOFTEN); the local one over `cells` x `cells` cells, `ring`
    of them along each side left out, with `slack` pixels of misalignment forgiven along edges, and with
    `both_ways` the smaller of the two ways of matching the tones (`src` to `dst`'s, and back): where one
    picture's highlights are packed against its white (a brighter copy with less contrast), its tones mapped
    onto the other's land on the white, while the other's mapped back onto its own stay close. `skip`: the
    cells left out of the local one; `measure`: how the local one is taken from the cells (_local() if None)."""
    y, y_edges, tones, spread, order, y_order = dst.soft, dst.edges, dst.sorted, dst.spread, None, dst.order
    x_tones = None
    if unit is IDENTITY:
        x, x_edges, order, x_tones = src.soft, src.edges, src.order, src.sorted
    else:
        x = _warp(src.soft, unit)
        if soften:
            x, y = (cv2.GaussianBlur(p, (0, 0), soften) for p in (x, y))
            y_edges, tones, spread, y_order = _gradient(y), np.sort(y, axis=None), float(y.std()), None
        x_edges = _gradient(x)
    matched = _matched(x, tones, order)
    rms = float(np.sqrt(np.mean((y - matched) ** 2))) / (spread + 1.0)
    # a difference along an edge both pictures have is a trim's sub-pixel misalignment, not an overlay
    slack_edges = 1 + slack * np.minimum(x_edges, y_edges)
    measure = measure or _local
    local = measure(np.abs(y - matched) / slack_edges, cells, ring, skip)
    if both_ways:
        back = _matched(y, np.sort(x, axis=None) if x_tones is None else x_tones, y_order)
        local = min(local, measure(np.abs(back - x) / slack_edges, cells, ring, skip))
    return local, rms


def _local(r: np.ndarray, cells: int, ring: int, skip: np.ndarray | None = None) -> float:
    """The largest mean of `r` over `cells` x `cells` cells (`ring` of them along each side left out, and those
    `skip` holds), past four times its median."""
    return float(_cell_means(r, cells, ring, skip).max() - 4 * _median(r))


def _against_cells(r: np.ndarray, cells: int, ring: int, skip: np.ndarray | None = None) -> float:
    """The largest mean of `r` over cells (as _local() takes them) as a multiple of their 90th percentile, one
    level added: a mark stands out of the cells round it, where compression's or a palette's noise and a
    brightening's clipped colour raise many cells alike."""
    means = np.sort(_cell_means(r, cells, ring, skip), axis=None)
    return float(means[-1] / (means[int(0.9 * means.size)] + 1.0))


def _cell_means(r: np.ndarray, cells: int, ring: int, skip: np.ndarray | None) -> np.ndarray:
    """The means of `r` over `cells` x `cells` cells, those `skip` holds as 0, less `ring` of them along each
    side."""
    k = len(r) // cells
    means = r.reshape(cells, k, cells, k).mean(axis=(1, 3))
    if skip is not None and skip.any():
        means = np.where(skip, 0.0, means)
    return means[ring:cells - ring, ring:cells - ring]


def _median(x: np.ndarray) -> float:
    """np.median of an array of an even number of values (the overlay test's planes), without its checks: the
    mean of the two middle values."""
    k = x.size // 2
    part = np.partition(x.reshape(-1), (k - 1, k))
    return (part[k - 1] + part[k]) / 2


def chroma_agrees(src: Frame, dst: Frame, unit: np.ndarray, rules: Rules = RULES) -> bool:
    """Whether the softened grids' chroma, `src` over the window `unit`, is the same colour at the strength the
    pair's tone curve gives it (brightness, contrast and gamma edits change each channel by the curve that
    takes one picture's gray levels to the other's: _curve_gains; saturation edits scale the chroma alone and
    leave the gray levels be): one picture's colours through that curve and the other's, their chroma
    regressed on each other either way, one of the gains is within `rules.chroma_gain` of 1 (noise on one
    side attenuates one regression, never both; a real change of colour moves both), and one not turned
    from the other by more than `rules.max_hue_turn` (_turned: a turn of 30 degrees scales the regression by
    cos 30, which the band passes). Cells clipped in either picture (a brightened sky) hold no colour to
    compare and are left out, unless fewer than a quarter of the grid would be left. Two pictures with next
    to no chroma (rms under a tenth of a level: the colour noise of film grain on a gray photo, squashed to
    32 px) agree, and so do two whose chroma is faint (`rules.faint_chroma`), gone from neither and not the
    same pattern (compression's noise; a faint colour made fainter by a saturation edit keeps its pattern); a
    solid colour (gray spread under PLAIN) has no tones to fit a curve to, and agrees only
    with another, compared as it is."""
    x = src.grid_soft if unit is IDENTITY else _soft(_warp(src.grid, unit))
    y = dst.grid_soft
    keep = _unclipped(*_extremes(x, y))
    if keep is not None:
        x, y = x[keep], y[keep]
    sum_x, sum_y = _channel_sum(x), _channel_sum(y)
    spread_x, spread_y = float((sum_x / 3).std()), float((sum_y / 3).std())
    cx, cy = _chroma(x), _chroma(y)
    xy, xx, yy = float((cx * cy).sum()), float((cx * cx).sum()), float((cy * cy).sum())
    gray, faint = 1e-2 * cx.size, rules.faint_chroma ** 2 * cx.size  # rms 0.1 and faint_chroma, as sums of squares
    if max(xx, yy) < gray:
        return True
    cross = float(np.cross(cx, cy).sum()) / np.sqrt(3)  # chroma lies in the plane across the gray axis
    same_pattern = np.hypot(xy, cross) >= rules.hue_correlation * np.sqrt(xx * yy)  # however turned in it
    if not same_pattern and min(xx, yy) >= gray and max(xx, yy) < faint:
        return True
    if same_pattern and _turned(xy, cross, rules):
        return False
    def agree(gains) -> bool:
        return any(1 / rules.chroma_gain <= g <= rules.chroma_gain for g in gains)

    if min(spread_x, spread_y) < PLAIN:  # a solid colour has no contrast to scale its chroma by
        return max(spread_x, spread_y) < PLAIN and agree((xy / max(xx, 1e-9), xy / max(yy, 1e-9)))
    # the curve fitted either way (the second only if the first fails): where one picture clips, the curve
    #   from the other bends less
    return agree(_curve_gains(x, sum_x, sum_y, cy)) or agree(_curve_gains(y, sum_y, sum_x, cx))


def cast(src: Frame, dst: Frame, unit: np.ndarray = IDENTITY) -> float:
    """How far a tint moved the gray of the pictures (levels, 0..255): the grid cells (`src` over the window
    `unit`) gray in one picture (no channel further than NEUTRAL from their mean) and within CAST_LEVELS in
    both, their mean chroma in the other less theirs, the largest channel; of the two ways round, those where the picture
    has LEAST_NEUTRAL such cells, the smaller (0 where neither has, or a picture is under 64 px: a JPEG that
    small keeps its colour at under 32 px). Brightness, contrast, gamma and saturation edits leave gray gray,
    and a hue edit turns no gray; a filter's tint or another white balance moves it, which in a colourful
    picture or an object on white (white clips, and stays white) moves the chroma test's regressions little."""
    if min(src.long_side, dst.long_side) < 2 * GRID:
        return 0.0
    x = src.grid if unit is IDENTITY else _warp(src.grid, unit)
    y = dst.grid
    low, high = _extremes(x, y)
    within = (low > CAST_LEVELS[0]) & (high < CAST_LEVELS[1])
    chroma = (_chroma(x), _chroma(y))
    moved = []
    for own, theirs in (chroma, chroma[::-1]):
        gray = within & (_channel_max(np.abs(own)) < NEUTRAL)
        if np.count_nonzero(gray) >= LEAST_NEUTRAL:
            moved.append(float(np.abs(theirs[gray].mean(axis=0) - own[gray].mean(axis=0)).max()))
    return min(moved, default=0.0)


def vignetting(src: Frame, dst: Frame, unit: np.ndarray = IDENTITY, clipped: np.ndarray | None = None) -> float:
    """How much darker (or lighter) one picture grows towards its corners than the other: the log of their gray
    pictures' ratio (the 64-px ones, `src` over the window `unit`, in VIGNETTE_GRID cells, one brought to the
    other's tones by histogram matching, which takes any brightness, contrast or gamma edit), its median in the
    corners less its median at the centre (VIGNETTE_RINGS), on the cells neither clipped, dark (VIGNETTE_LEVEL)
    nor on an edge (VIGNETTE_EDGE); 0 where too few are left. A vignette darkens a picture by its distance from
    the centre, which no tone curve does; brightened or not, a benign copy keeps every part's brightness in
    proportion. `clipped`: _clipped_cells() of the pair, where the caller has them."""
    x = src.fine.astype(np.float32)
    x = x if unit is IDENTITY else _warp(x, unit)
    x, y = (cv2.resize(g, (VIGNETTE_GRID, VIGNETTE_GRID), interpolation=cv2.INTER_AREA)
            for g in (x, dst.fine.astype(np.float32)))
    x, y = (cv2.GaussianBlur(g, (0, 0), VIGNETTE_SOFTEN) for g in (_matched(x, np.sort(y, axis=None)), y))
    left = ((np.minimum(x, y) >= VIGNETTE_LEVEL) & (np.maximum(x, y) < 250)
            & ~_cells(_clipped_cells(src, dst, unit) if clipped is None else clipped, VIGNETTE_GRID)
            & (np.maximum(_gradient(x) / np.maximum(x, 1), _gradient(y) / np.maximum(y, 1)) <= VIGNETTE_EDGE))
    inner, outer = left & (_RADIUS < VIGNETTE_RINGS[0]), left & (_RADIUS > VIGNETTE_RINGS[1])
    if min(np.count_nonzero(inner), np.count_nonzero(outer)) < VIGNETTE_CELLS:
        return 0.0
    ratio = np.log(np.where(left, y, 1) / np.where(left, x, 1))
    return abs(float(np.median(ratio[outer]) - np.median(ratio[inner])))


def _extremes(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cell by cell, the least and the greatest of the two grids' channels: where either picture clips, or is
    light."""
    return np.minimum(_channel_min(x), _channel_min(y)), np.maximum(_channel_max(x), _channel_max(y))


def _curve_gains(x: np.ndarray, sum_x: np.ndarray, sum_y: np.ndarray, target: np.ndarray) -> tuple[float, float]:
    """The chroma of the colours `x` (cells by 3 channels) taken, channel by channel, through the tone curve that
    takes their gray levels (`sum_x` / 3) to the other picture's (`sum_y` / 3), regressed on the other's chroma
    `target` and back: both about 1 where the colours changed only with the tones. The curve is a parabola
    fitted by least squares (brightness and contrast edits are lines, gamma bends them) on the gray levels,
    which a saturation edit leaves alone: a curve fitted on the channels themselves would take a saturation
    edit for more contrast. A gamma of 0.85 raises the dark levels' chroma more than the light ones', which
    one gain for all levels (the gray spreads' ratio) reads as a change of colour: the band would have to be
    wide enough to let saturation edits of 25-30 % through (bench/edits.py's colour rows)."""
    gray_x, gray_y = (levels.reshape(-1).astype(np.float64) / 3 for levels in (sum_x, sum_y))
    u = (gray_x - 128.0) / 128.0
    powers = np.stack([np.ones_like(u), u, u * u])  # the normal equations: a 3 x 3 solve, not an SVD
    try:
        a, b, c = np.linalg.solve(powers @ powers.T, powers @ gray_y)
    except np.linalg.LinAlgError:  # one gray level all over: no curve, the chroma as it is
        a, b, c = 0.0, 128.0, 0.0
    v = (x - 128.0) / 128.0
    mapped = _chroma(a + b * v + c * v * v)
    xy = float((mapped * target).sum())
    return xy / max(float((mapped * mapped).sum()), 1e-9), xy / max(float((target * target).sum()), 1e-9)


def _turned(xy: float, cross: float, rules: Rules) -> bool:
    """Whether one picture's chroma is the other's, the same pattern, turned round the gray axis by more than
    `rules.max_hue_turn` (`xy`: their dot product, the cosine part of the turn; `cross`: their cross product's
    component along the axis, its sine part). Asked only where the two are the same pattern turned (their
    correlation in that plane reaches `rules.hue_correlation`): uncorrelated chroma is noise, whose angle says
    nothing."""
    return float(np.degrees(abs(np.arctan2(cross, xy)))) > rules.max_hue_turn


def _fine_agrees(a: Frame, b: Frame, alignments: list[tuple[Frame, Frame, np.ndarray] | None], rules: Rules,
                 soften: float = 0.0, clipped: np.ndarray | None = None) -> bool:
    """No overlay in any channel, and the 64-px gray pictures agree as a whole, under one of the `alignments`
    (None: the overlay test fits its own trim): the grids can agree on the blobs of two different pictures of
    one kind (two star clusters), their detail does not. The trim is fitted once, for the 64- and 128-px tests.
    `clipped`: the first alignment's _clipped_cells(), where the caller has them."""
    for n, alignment in enumerate(alignments):
        alignment = alignment or _trim_fit(a, b)
        if n or clipped is None:
            clipped = _clipped_cells(*alignment)
        differences = _differences(a, b, alignment, soften, clipped)
        if (max(local for local, _ in differences) <= rules.max_overlay and differences[0][1] <= rules.max_fine_residual
                and _gray_agrees(a, b, alignment, soften, clipped, rules)
                and _no_chroma_mark(a, b, alignment, soften, clipped, differences[1:], rules)):
            return True
    return False


def _no_chroma_mark(a: Frame, b: Frame, alignment: tuple[Frame, Frame, np.ndarray], soften: float,
                    clipped: np.ndarray, chroma: list[tuple[float, float]], rules: Rules) -> bool:
    """No mark in the 64-px chroma (chroma_mark()), asked only where a chroma cell of the grid stands out by
    rules.chroma_mark_after or more (`chroma`: _differences()' chroma channels, none for a picture under 64 px):
    the date stamps it finds do, by 3.2 or more, and one benign pair in thirty."""
    return (max((local for local, _ in chroma), default=0.0) < rules.chroma_mark_after
            or chroma_mark(a, b, alignment, soften, clipped) <= rules.max_chroma_mark)


def _gray_agrees(a: Frame, b: Frame, alignment: tuple[Frame, Frame, np.ndarray], soften: float,
                 clipped: np.ndarray, rules: Rules) -> bool:
    """No overlay in the gray pictures at 128 px, nor at 256 px where one may hide: where a cell stands out at
    128 px, under the bound (rules.finest_after), in pairs of the same tones (rules.finest_tones). A mark a pixel
    or two thick at 128 px raises its cell there; a benign copy seldom does (one pair in twenty on photos of
    extra/), so few pairs pay for the sorts of 65,536 levels that matching tones at 256 px takes."""
    finer = finer_overlay(a, b, alignment, soften, clipped)
    if finer > rules.max_finer_overlay:
        return False
    return (finer < rules.finest_after or _tone_shift(*alignment) > rules.finest_tones
            or finest_overlay(a, b, alignment, soften, clipped) <= rules.max_finest_overlay)


def _tone_shift(src: Frame, dst: Frame, unit: np.ndarray) -> float:
    """How far the pair's brightness and contrast change (_tone_both_ways) moves the grid's levels, on average
    (0..255): the 256-px overlay test is for copies in the same tones. Matched onto another picture's tones at
    that size, a brightened picture differs where it clipped (the core of a star cluster, a white backdrop cut
    round an object), and the dark levels of a night sky, lifted by a gamma, in their noise."""
    x, _, gain, offset = _tone_both_ways(src, dst, unit)[0]
    return float(np.abs((gain - 1) * x + offset).mean())


def _trim_fit(a: Frame, b: Frame) -> tuple[Frame, Frame, np.ndarray]:
    """The overlay test's own alignment: a trim both ways on the gray mean profiles, the way that fits better."""
    fits = []
    for src, dst in ((a, b), (b, a)):
        (kx, fx, ex), (ky, fy, ey) = (_best_windows(src.fine_windows[n], dst.fine_profiles[n], TRIM_WINDOWS)[0]
                                      for n in (0, 1))
        fits.append((ex + ey, src, dst, _window(kx, ky, fx, fy)))
    return min(fits, key=lambda f: f[0])[1:]


def finer_overlay(a: Frame, b: Frame, alignment: tuple[Frame, Frame, np.ndarray] | None = None,
                  soften: float = 0.0, clipped: np.ndarray | None = None) -> float:
    """overlay()'s local difference in the gray pictures at 128 px (cells of 4 px, the outer ring of cells left
    out: a trim's window is least sure at its edges), for pairs both that large, else 0. A watermark's strokes,
    a user's handle or a date stamp a few per cent high are a pixel or two thick at 64 px, mixed into the
    picture round them; at 128 they stand out of their cell. `clipped`: as _differences() takes it."""
    return _gray_overlay(a, b, "finer_plane", FINER, FINER, alignment, soften, clipped)


def finest_overlay(a: Frame, b: Frame, alignment: tuple[Frame, Frame, np.ndarray] | None = None,
                   soften: float = 0.0, clipped: np.ndarray | None = None) -> float:
    """finer_overlay() at 256 px (cells of 4 px, the two outer rings left out: the same share of each side), for
    pairs both FINEST_FROM px or more: on a photo of a thousand pixels the same marks are a pixel or two thick
    at 128 px, and a handle or a date stamp fills a fraction of a cell there."""
    return _gray_overlay(a, b, "finest_plane", FINEST, FINEST_FROM, alignment, soften, clipped)


def _gray_overlay(a: Frame, b: Frame, plane: str, side: int, least: int,
                  alignment: tuple[Frame, Frame, np.ndarray] | None, soften: float, clipped: np.ndarray | None) -> float:
    """The local difference of the pair's gray pictures at `side` px (the Frame's `plane`), or 0 where either
    picture is under `least` px or keeps none that large."""
    if min(a.long_side, b.long_side) < least or getattr(a, plane) is None or getattr(b, plane) is None:
        return 0.0
    src, dst, unit = alignment or _trim_fit(a, b)
    cells = side // 4
    return _difference(getattr(src, plane), getattr(dst, plane), unit, soften * side / FINE, cells=cells,
                       ring=side // FINER, slack=EDGE_SLACK * side / FINE, both_ways=True,
                       skip=_cells(_clipped_cells(src, dst, unit) if clipped is None else clipped, cells))[0]


def chroma_mark(a: Frame, b: Frame, alignment: tuple[Frame, Frame, np.ndarray] | None = None,
                soften: float = 0.0, clipped: np.ndarray | None = None) -> float:
    """How far a cell of 1/32 of each side stands out of the rest in either chroma channel at 64 px
    (_against_cells; the outer ring left out), for pairs both CHROMA_MARK_FROM px or more, else 0: a mark in a
    colour of its background's gray (an orange date stamp on a lawn) leaves the gray tests nothing, and in the
    grid's chroma fills part of a cell of 1/16. `clipped`: as _differences() takes it."""
    if min(a.long_side, b.long_side) < CHROMA_MARK_FROM or a.chroma_planes is None or b.chroma_planes is None:
        return 0.0
    src, dst, unit = alignment or _trim_fit(a, b)
    cells = FINE // 2
    grid = src.grid if unit is IDENTITY else _warp(src.grid, unit)
    near_white = np.maximum(_channel_max(grid), _channel_max(dst.grid)) >= NEAR_WHITE
    skip = _cells((_clipped_cells(src, dst, unit) if clipped is None else clipped) | near_white, cells)
    return max(_difference(x, y, unit, soften, cells=cells, ring=1, both_ways=True, skip=skip, measure=_against_cells)[0]
               for x, y in zip(src.chroma_planes, dst.chroma_planes))


def _matched(x: np.ndarray, tones: np.ndarray, order: np.ndarray | None = None) -> np.ndarray:
    """x with another picture's tones (its values sorted): histogram matching, which takes brightness,
    contrast, gamma, even clipped highlights (`order`: x's argsort, if known)."""
    out = np.empty(x.size, np.float32)
    out[rank_order(x) if order is None else order] = tones
    return out.reshape(x.shape)


def _in_common(a: Frame, b: Frame, high: bool = False) -> list[tuple[int, float, float]]:
    """The sides both pictures' detail was measured at (`high`: above SHARP_SIDE), both shrunk to it or both at
    their own size (a picture at its own size keeps its JPEG blocks and resampling edges, which shrinking
    smooths), largest first, with each one's detail there."""
    x, y = (dict(a.high), dict(b.high)) if high else (dict(a.detail), dict(b.detail))
    return [(side, x[side], y[side]) for side in sorted(x.keys() & y.keys(), reverse=True)
            if (side == a.long_side) == (side == b.long_side)]


def sharpness_ratio(common: list[tuple[int, float, float]]) -> float:
    """The softer picture's detail as a share of the sharper one's (`common`: the pair's _in_common), two
    sides below the largest both were measured at (its band, 1.13 to 2.26 px there, is what a strong blur
    removes and a slight one keeps; 1: no side in common, pictures too small and unequal: not judged)."""
    if not common:
        return 1.0
    _, x, y = next((c for c in common if c[0] <= common[0][0] / 2 ** 0.5 + 1), common[-1])
    return _kept(x, y)


def _kept(x: float, y: float) -> float:
    """The smaller of two details as a share of the larger."""
    return min(x, y) / max(x, y, 1e-6)


def blur(a: Frame, b: Frame, common: list[tuple[int, float, float]], rules: Rules = RULES) -> float:
    """The softer picture's blur against the sharper, estimated from the fine detail it lost at the largest
    side both were measured at (`common`: the pair's _in_common), in its own pixels (a Gaussian's sigma; 0:
    none seen)."""
    if not common:
        return 0.0
    side, x, y = common[0]
    kept = _kept(x, y)
    if kept > rules.blur_seen:
        return 0.0
    softer = a if x < y else b
    return float(np.sqrt(-np.log(max(kept, 1e-3)) / BLUR_LOSS)) * softer.long_side / side


def turned_detail(a: Frame, b: Frame, common: list[tuple[int, float, float]]) -> float:
    """How far the direction of the fine detail moved between the two pictures at the largest side both were
    measured at (`common`: the pair's _in_common; 0: no side in common)."""
    if not common:
        return 0.0
    side = common[0][0]
    x, y = (f.direction[[s for s, _ in f.detail].index(side)] for f in (a, b))
    return max(abs(p - q) for p, q in zip(x, y))


def grain(a: Frame, b: Frame, common: list[tuple[int, float, float]], rules: Rules = RULES) -> float:
    """The noisier picture's noise floor over the other's (each plus half a unit), at the largest side both
    were measured at (`common`: the pair's _in_common) from NOISE_MIN_SIDE up; 1 where there is none, where the
    two floors are within `rules.min_grain` levels, or where they do not look like noise added to a clean
    picture: white noise halves with the side (the noisier one's floor at least `rules.grain_scale` times its
    floor at half the side), a clean picture's floor does not (the other's at most `rules.clean_scale` times
    it). A noisy photo (its own grain or sensor noise, a star field) that a heavy JPEG, a slight blur or a
    resampling filter smoothed keeps some of its grain at the smaller sides, which the clean one lacks."""
    side = next((s for s, _, _ in common if s >= NOISE_MIN_SIDE), None)
    if side is None or not (a.noise and b.noise):
        return 1.0
    (x, x_half), (y, y_half) = ((_floor_at(f, side), _floor_at(f, side / 2)) for f in (a, b))
    (noisy, noisy_half), (clean, clean_half) = sorted(((x, x_half), (y, y_half)), reverse=True)
    if (noisy - clean < rules.min_grain or noisy + 0.5 < rules.grain_scale * (noisy_half + 0.5)
            or clean + 0.5 > rules.clean_scale * (clean_half + 0.5)):
        return 1.0
    return (noisy + 0.5) / (clean + 0.5)


def _floor_at(f: Frame, side: float) -> float:
    """The picture's noise floor at the detail side nearest `side`."""
    sides = [s for s, _ in f.detail]
    return f.noise[min(range(len(sides)), key=lambda k: abs(sides[k] - side))]


def _same_direction(m: dict, unit: np.ndarray, rules: Rules) -> bool:
    """Whether the detail kept its direction (`m`: the pair's _cheap measures), judged for pictures of the same
    extent only (aligned within 2 % of each side): a trim cuts off edges, and where a picture's detail is a
    few edges (an object on studio white) that alone can turn it."""
    untrimmed = bool((np.abs(unit - IDENTITY) <= 0.02 + 1e-5 * np.abs(IDENTITY)).all())  # np.allclose, atol 0.02
    return not untrimmed or m["turned_detail"] <= rules.max_turned_detail


def _cheap(a: Frame, b: Frame, rules: Rules) -> dict:
    common = _in_common(a, b)
    softer = max(blur(a, b, common, rules), blur(a, b, _in_common(a, b, high=True), rules))  # at 256 px and above
    return {"aspect": abs(float(np.log(a.aspect / b.aspect))), "sharpness": sharpness_ratio(common),
            "blur": softer, "turned_detail": turned_detail(a, b, common), "grain": grain(a, b, common, rules),
            "colours": (a.colourfulness, b.colourfulness), **_peaks(a, b)}


def _peaks(a: Frame, b: Frame) -> dict:
    """The tone peaks' difference, for pictures large enough to compare them (PEAK_MIN_SIDE)."""
    return {"peaks": abs(a.peaks - b.peaks)} if min(a.long_side, b.long_side) >= PEAK_MIN_SIDE else {}


def _colour(colours: tuple[float, float], gain: float, rules: Rules) -> float:
    """How far b's colourfulness is from a's scaled by the contrast gain from a to b (a contrast change
    scales both; a saturation, grayscale or hue edit only the colours), past what is allowed (> 0: fails)."""
    expected, found = gain * colours[0], colours[1]
    share, slack = rules.colour
    return abs(expected - found) - share * max(expected, found) - slack


def _failing(m: dict, rules: Rules) -> str | None:
    """The first of the measures `m` (the pair's _cheap ones, with a fit of the grids where there is one) past
    the rules, as a key of WHY (None: none is): the shape, the colours, how well the grids fit as a whole and in
    places, then the contrast (a fit that fails gives a gain that means nothing), the sharpness, the noise, the tones."""
    lo, hi = rules.gain
    ca, cb = m["colours"]
    gain = m.get("gain")
    kindest = cb / ca if ca > 0 else 1.0  # before the pictures are compared: the gain that suits the colours
    colour = _colour(m["colours"], min(max(kindest if gain is None else gain, lo), hi), rules)
    passed = (("shape", m["aspect"] <= rules.max_aspect_change), ("colour", colour <= 0),
              ("content", m.get("rms", 0.0) <= rules.max_residual), ("overlay", m.get("local", 0.0) <= rules.max_local),
              ("contrast", gain is None or lo <= gain <= hi),
              ("sharpness", m["blur"] <= rules.max_blur and m["sharpness"] >= rules.min_sharpness),
              ("noise", m["grain"] <= rules.max_grain),
              ("tones", m.get("peaks", 0.0) <= rules.max_peaks))
    return next((why for why, ok in passed if not ok), None)
