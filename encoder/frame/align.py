"""One picture as a trim of the other: the windows searched, the grids' fit over each (brightness and
contrast matched), and the window refined at 64 px, where a turn or a mirror shows."""

from __future__ import annotations

from typing import NamedTuple

import cv2
import numpy as np

from .rules import RULES
from .signature import FINE, FINER, GRID, TRIM_WINDOWS, Frame, _axis_windows, _centred, _channel_sum, _sample, _soft

TRIMMED = 0.985  # an alignment that keeps less of a side than this trims the picture ...
TRIM_GRID_SOFTEN = 0.8  # ... and the grids compared over it are softened by this much more (grid cells): the
#   same sub-pixel resampling at 32 px leaves point-like detail (star fields trimmed to 92-95 % of a side: 0.11
#   to 0.18 RMS at SOFTEN alone, past max_residual) a residual that a picture compared as it is never has
THUMB_GRID_SOFTEN = 0.8  # ... and, where either picture is under 64 px, by this much more (grid cells): a
#   thumbnail that small has its JPEG blocks and its resampling at the grid's own scale
TRIM_SOFTEN = 0.5  # ... and, refined, both planes are softened by this much more (pixels) before they are
#   compared: the trim was squashed from its own pixel grid, the other is resampled over the window at
#   sub-pixel phases, which blurs point-like detail (stars, stripes, texture) unequally across the picture. An
#   untrimmed pair (a strong blur) stays compared at SHARPEST, a picture under 64 px at its own size
TRIM_CANDIDATES = 2  # per axis, the best windows by profile whose combinations the grids decide between


def _best_windows(sampled: np.ndarray, dst: np.ndarray, windows: np.ndarray,
                  n: int = 1) -> list[tuple[float, float, float]]:
    """Of the windows whose centred resampled profiles are `sampled`, the `n` that explain `dst` best after a
    gain, best first: (keep, offset, the error left as a share of `dst`'s variance)."""
    flat = sampled.reshape(len(windows), -1)
    target = (dst - dst.mean()).reshape(-1)
    gain = flat @ target / np.maximum((flat ** 2).sum(axis=1), 1e-6)
    err = ((target[None] - gain[:, None] * flat) ** 2).sum(axis=1)
    total = max(float((target ** 2).sum()), 1e-6)
    return [(float(windows[i][0]), float(windows[i][1]), float(err[i] / total))
            for i in np.argsort(err, kind="stable")[:n]]


# Alignments are affines in unit coordinates (0..1 across each side): the point u of the second picture is
# the point A @ u + t of the first. A trim is diagonal; a turn or a mirror is not.


IDENTITY = np.float32([[1, 0, 0], [0, 1, 0]])


def _window(kx: float, ky: float, fx: float, fy: float) -> np.ndarray:
    """The region kx x ky of a picture's sides, at offset fractions fx, fy of the slack, as a unit affine."""
    return np.float32([[kx, 0, fx * (1 - kx)], [0, ky, fy * (1 - ky)]])


def _in_pixels(unit: np.ndarray, n: int) -> np.ndarray:
    """A unit affine as one between the pixel centres of two n x n pictures."""
    out = unit.astype(np.float32)
    out[:, 2] = n * unit[:, 2] + unit[:, :2].sum(axis=1) / 2 - 0.5
    return out


def _in_units(pixels: np.ndarray, n: int) -> np.ndarray:
    """The inverse of _in_pixels."""
    a = pixels[:, :2]
    return np.hstack([a, ((pixels[:, 2] - a.sum(axis=1) / 2 + 0.5) / n)[:, None]]).astype(np.float32)


def _warp(src: np.ndarray, unit: np.ndarray) -> np.ndarray:
    """The region `unit` of `src` resampled to the full square."""
    n = len(src)
    return cv2.warpAffine(src, _in_pixels(unit, n), (n, n), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REFLECT)


def _residual(x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """y minus x brought to y's brightness and contrast (_tone; the prediction clipped to 0..255 as a
    brightened sky is), at 16x16."""
    gain, offset = _tone(x, y)
    r = y - np.clip(gain * x + offset, 0, 255)
    return gain, cv2.resize(r, (GRID // 2, GRID // 2), interpolation=cv2.INTER_AREA)  # 2x2 means


def _tone(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """The gain and offset that bring x to y's brightness and contrast (one for all channels), fitted where
    neither picture clips unless under a quarter of the values would be left."""
    xv, yv = x.reshape(-1), y.reshape(-1)
    keep = _unclipped(np.minimum(xv, yv), np.maximum(xv, yv))
    if keep is not None:
        xv, yv = xv[keep], yv[keep]
    mx, my = float(xv.sum()) / xv.size, float(yv.sum()) / yv.size
    dx = xv - mx
    gain = float(np.dot(dx, yv - my) / max(float(np.dot(dx, dx)), 1e-6))
    return gain, my - gain * mx


def _unclipped(low: np.ndarray, high: np.ndarray) -> np.ndarray | None:
    """Where neither picture clips (`low`, `high`: the least and greatest value the two have there, 0..255),
    or None if that leaves under a quarter of the positions (a picture mostly clipped is compared whole)."""
    keep = (low > 5) & (high < 250)
    return keep if np.count_nonzero(keep) >= 0.25 * keep.size else None


class Fit(NamedTuple):
    gain: float  # contrast, from the first picture's to the second's
    rms: float  # residual per unit of contrast
    local: float  # the largest cell residual (0..255)


def _trims(unit: np.ndarray) -> bool:
    """Whether an alignment keeps less than TRIMMED of a side: the two are compared over a trim, softer."""
    return unit is not IDENTITY and float(np.diag(unit[:, :2]).min()) < TRIMMED


def _score(src: Frame, dst: Frame, unit: np.ndarray = IDENTITY) -> Fit:
    """How well `dst` (softened) is the region `unit` of `src`'s grid, brightness and contrast matched."""
    more = TRIM_GRID_SOFTEN if _trims(unit) else 0.0
    if min(src.long_side, dst.long_side) < 2 * GRID:
        more = float(np.hypot(more, THUMB_GRID_SOFTEN))
    x = _soft(src.grid if unit is IDENTITY else _warp(src.grid, unit), more)
    gain, r = _residual(x, _soft(dst.grid, more) if more else dst.grid_soft)
    return Fit(gain, float(np.sqrt(np.dot(r.reshape(-1), r.reshape(-1)) / r.size)) / (dst.grid_spread + 1.0),
               float(_channel_sum(np.abs(r)).max()) / 3)


def aligned(a: Frame, b: Frame, max_trim: float,
            max_profile_error: float = np.inf) -> list[tuple[Fit, Frame, Frame, np.ndarray]]:
    """The best alignment of the two grids each way, one a trim of the other (up to `max_trim` of each side,
    the sides trimmed independently), better first: (fit, the larger picture, the trim, the trim's window in
    the larger). Each axis's trim is fitted on the grids' mean profiles along it (one small vectorised
    search), then the grids compared, unless the best window leaves more than `max_profile_error` of either
    profile's variance unexplained (that way round is left out)."""
    windows = TRIM_WINDOWS if max_trim == RULES.max_trim else _axis_windows(max_trim)
    found = []
    for src, dst in ((a, b), (b, a)):
        xs, ys = (_best_windows(src.grid_windows[n] if windows is TRIM_WINDOWS
                                else _centred(_sample(src.grid_soft.mean(axis=n), windows)),
                                dst.grid_soft.mean(axis=n), windows, TRIM_CANDIDATES) for n in (0, 1))
        if max(xs[0][2], ys[0][2]) > max_profile_error:  # no trim this way explains even the profiles
            continue
        units = [_window(kx, ky, fx, fy) for kx, fx, _ in xs for ky, fy, _ in ys]
        found.append(min(((_score(src, dst, u), src, dst, u) for u in units), key=lambda f: f[0].rms))
    return sorted(found, key=lambda f: f[0].rms)


def refined(src: Frame, dst: Frame, unit: np.ndarray, margin: int = 0, finer: bool = False) -> np.ndarray | None:
    """The affine that best maps `dst` onto `src` at 64 px gray, refined from `unit` by OpenCV's enhanced
    correlation coefficient: sub-pixel trims, and the turn or mirror a trim search cannot express (None: it
    did not converge). `margin`: lines of `dst` left out of the fit on each side (framed()). `finer`: at 128 px
    (FINER), to half the error, with a looser stop for its cost (None where a signature holds no such picture)."""
    if finer and (src.finer is None or dst.finer is None):
        return None
    n, stop = (FINER, FINER_ECC_STOP) if finer else (FINE, ECC_STOP)
    planes = (src.finer, dst.finer) if finer else (src.fine, dst.fine)
    shift = np.float32([margin, margin])
    start = _in_pixels(unit, n)
    start[:, 2] += start[:, :2] @ shift
    inner = np.ascontiguousarray(planes[1][margin:n - margin, margin:n - margin], np.float32)
    try:
        _, m = cv2.findTransformECC(inner, planes[0].astype(np.float32), start, cv2.MOTION_AFFINE, stop, None, 5)
    except cv2.error:
        return None
    m[:, 2] -= m[:, :2] @ shift
    return _in_units(m, n)


ECC_STOP = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 50, 1e-4)
FINER_ECC_STOP = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 50, 1e-3)  # at 128 px, about half the
#   iterations; the turn it finds moves by a few ten-thousandths


def turn(unit: np.ndarray) -> float:
    """How far an affine is from a trim: its off-diagonal part as a share of its scale (a turn by x: sin x)."""
    a = unit[:, :2]
    return float(max(abs(a[0, 1]), abs(a[1, 0])) / max((abs(a[0, 0]) + abs(a[1, 1])) / 2, 1e-6))


def rotation(unit: np.ndarray) -> float:
    """How far an affine turns: the antisymmetric part of its off-diagonal as a share of its scale (a turn by
    x: tan x; a shear, which the refinement of a picture with little to align on can drift into, adds none)."""
    a = unit[:, :2]
    return float(abs(a[1, 0] - a[0, 1]) / 2 / max((abs(a[0, 0]) + abs(a[1, 1])) / 2, 1e-6))


def _within(unit: np.ndarray, max_trim: float) -> bool:
    """Whether an affine stays a trim of up to `max_trim` of each side (a little slack for the refinement)."""
    a, t = np.diag(unit[:, :2]), unit[:, 2]
    return bool((a >= 1 - max_trim - 0.02).all() and (t >= -0.02).all() and (t + a <= 1.02).all())


def stretch(src: Frame, dst: Frame, unit: np.ndarray) -> float:
    """|log| of how much the window `unit` of `src` must be stretched to `dst`'s aspect: 0 for a trim, which
    cuts the picture without changing its shape; a picture resized to another aspect ratio keeps all of it."""
    return abs(float(np.log(src.aspect * unit[0, 0] / unit[1, 1] / dst.aspect)))
