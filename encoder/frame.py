"""The same-frame check: two copies of a picture are a **duplicate** (merged without a look) only if they show it
in the same frame and colours: re-encoded, resized, converted, lightly adjusted, trimmed by a few per cent.
Anything else the embedding finds (cropped, mirrored, turned, recoloured, overlaid, bordered, blurred) is a
**match**. The embedding cannot tell these apart (it is trained to ignore exactly these edits), so the check
compares a signature kept per image, made from the decode the encoder needs anyway:

- the whole picture squashed to 32x32 in colour; the two are aligned (one may be a trim of the other, up to
  `max_trim` of each side), brought to the same brightness and contrast, then compared: an overlay, a
  border, a mirror or a crop leaves a residual, everywhere or in one place;
- the aspect ratio of the original (a crop, a border or a turn changes it);
- the colourfulness (grayscale, saturation and hue edits change it while the gray levels stay);
- the fine detail at long sides from 512 down to 128 px (each capped at the picture's own): a strong blur
  removes most of it, re-encoding and resizing do not. A pair compares it at the largest side both were
  measured at (a 1024-px picture blurred by 3 px looks sharp at 256 px, but not at 512).
"""
from __future__ import annotations

import functools
import struct
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

GRID = 32
FINE = 64  # the gray picture kept for overlays (thin text vanishes at 32 px)
SHARP_SIDES = (512, 362, 256, 181, 128)  # long sides at which the fine detail is measured (each capped at the picture's)
SHARP_SIDE = SHARP_SIDES[0]  # the decode must reach this long side for the sharpness to be measured
DETAIL_BAND = (1.2, 2.4)  # the fine detail: a difference of Gaussians (sigmas in pixels at the measuring side)
SOFTEN = 0.8  # Gaussian sigma, in grid cells, applied to both grids before they are compared
KEY = "frame32x3"  # stored beside the encoders' vectors, keyed by content hash and this name


@dataclass(frozen=True)
class Frame:
    grid: np.ndarray  # (32, 32, 3) float32, 0..255: the whole picture squashed
    aspect: float  # width / height of the original, after EXIF rotation
    detail: tuple[tuple[int, float], ...]  # (long side, fine detail per unit of contrast there), per SHARP_SIDES
    fine: np.ndarray  # (64, 64) uint8: the whole picture squashed, gray

    # what the overlay test needs of one picture, made once however many pairs it is in
    @functools.cached_property
    def fine_soft(self) -> np.ndarray:
        return cv2.GaussianBlur(self.fine.astype(np.float32), (0, 0), 0.6)

    @functools.cached_property
    def fine_sorted(self) -> np.ndarray:
        return np.sort(self.fine_soft, axis=None)

    @functools.cached_property
    def fine_edges(self) -> np.ndarray:
        return _gradient(self.fine_soft)

    @functools.cached_property
    def fine_profiles(self) -> tuple[np.ndarray, np.ndarray]:
        return self.fine_soft.mean(axis=0), self.fine_soft.mean(axis=1)

    @functools.cached_property
    def fine_windows(self) -> tuple[np.ndarray, np.ndarray]:
        """Each axis's profile resampled over every trim window (TRIM_WINDOWS), centred: (windows, 64)."""
        return tuple(_centred(_sample(profile, TRIM_WINDOWS)) for profile in self.fine_profiles)

    def to_bytes(self) -> bytes:
        return (np.clip(self.grid, 0, 255).astype(np.uint8).tobytes() + self.fine.tobytes()
                + struct.pack(f"<fi{'if' * len(self.detail)}", self.aspect, len(self.detail),
                              *(x for pair in self.detail for x in pair)))

    @classmethod
    def from_bytes(cls, raw: bytes) -> "Frame":
        n, m = GRID * GRID * 3, FINE * FINE
        aspect, count = struct.unpack("<fi", raw[n + m:n + m + 8])
        values = struct.unpack(f"<{'if' * count}", raw[n + m + 8:n + m + 8 + 8 * count])
        return cls(np.frombuffer(raw[:n], np.uint8).reshape(GRID, GRID, 3).astype(np.float32), aspect,
                   tuple(zip(values[::2], values[1::2])), np.frombuffer(raw[n:n + m], np.uint8).reshape(FINE, FINE))


def signature(im: Image.Image, width: int, height: int) -> Frame:
    """The signature of a decoded RGB picture whose original is width x height (decoded at least SHARP_SIDE
    on its long side, or whole)."""
    rgb = np.asarray(im)
    grid = cv2.resize(rgb, (GRID, GRID), interpolation=cv2.INTER_AREA).astype(np.float32)
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    fine = cv2.resize(gray, (FINE, FINE), interpolation=cv2.INTER_AREA)
    detail = []
    for side in sorted({min(s, max(width, height)) for s in SHARP_SIDES}, reverse=True):
        gray = _shrunk(gray, side)  # each side from the last one: cheap
        detail.append((side, fine_detail(gray.astype(np.float32))))
    return Frame(grid, width / max(height, 1), tuple(detail), fine)


def _shrunk(pixels: np.ndarray, side: int) -> np.ndarray:
    """The picture with its long side brought down to `side` (if longer): halved (Gaussian pyramid) while
    twice as long, then linear. A fraction of OpenCV's area resampling's cost at these ratios."""
    while max(pixels.shape[:2]) >= 2 * side:
        pixels = cv2.pyrDown(pixels)
    k = side / max(pixels.shape[:2])
    if k >= 1:
        return pixels
    return cv2.resize(pixels, (max(3, round(pixels.shape[1] * k)), max(3, round(pixels.shape[0] * k))),
                      interpolation=cv2.INTER_LINEAR)


def fine_detail(g: np.ndarray) -> float:
    """Mean band-passed detail (DETAIL_BAND) per unit of contrast: what a blur removes first."""
    lo, hi = DETAIL_BAND
    band = (cv2.GaussianBlur(g, (2 * round(3 * lo) + 1,) * 2, lo)
            - cv2.GaussianBlur(g, (2 * round(3 * hi) + 1,) * 2, hi))  # kernels cut at 3 sigma
    return float(cv2.mean(np.abs(band))[0] / (g.std() + 1.0))


@dataclass(frozen=True)
class Rules:
    max_aspect_change: float = 0.04  # |log(aspect a / aspect b)|: a trim keeps the aspect, a crop or border not
    max_trim: float = 0.10  # one picture may be the other with this much cut off its sides
    search_above: float = 0.7  # pictures that differ more than this as they are: no trim is searched for
    max_residual: float = 0.10  # aligned, same brightness: RMS difference at 16x16 per unit of contrast
    max_local: float = 28.0  # ... and no 16x16 cell off by more than this (0..255): overlays, patches
    gain: tuple[float, float] = (0.7, 1.4)  # contrast changed by at most this factor
    colour: tuple[float, float] = (0.35, 0.05)  # colourfulness (mean |chroma|, 0..255), the contrast gain
    #   applied, differs by at most this share of the larger plus this much: grayscale, saturation and hue
    #   edits change it, compression a little
    min_sharpness: float = 0.7  # the softer keeps at least this share of the sharper one's fine detail
    max_overlay: float = 6.0  # at 64 px gray, aligned and tone-matched, no 4x4-px cell off by more than four
    #   times the median difference plus this (0..255): text, logos, stickers


RULES = Rules()


def _axis_windows(max_trim: float) -> np.ndarray:
    """Candidate (keep, offset fraction) windows along one axis: the whole, then trims in steps of 1 %."""
    keeps = np.arange(1.0, 1 - max_trim - 1e-6, -0.01)
    offsets = np.linspace(0, 1, 9)
    return np.array([(k, f) for k in keeps for f in (offsets if k < 1 else [0.0])], np.float32)


TRIM_WINDOWS = _axis_windows(RULES.max_trim)  # the overlay test's, sampled once per picture


def _sample(profile: np.ndarray, windows: np.ndarray) -> np.ndarray:
    """A profile (n, ...) resampled over each window (keep, offset): (windows, n, ...), linearly."""
    n = len(profile)
    keep, offset = windows[:, :1], windows[:, 1:]
    pos = np.clip(offset * (1 - keep) * n + (np.arange(n) + 0.5) * keep - 0.5, 0, n - 1)
    low = np.floor(pos).astype(np.intp)
    w = (pos - low).reshape(*pos.shape, *([1] * (profile.ndim - 1)))
    return profile[low] * (1 - w) + profile[np.minimum(low + 1, n - 1)] * w


def _fit_axis(src: np.ndarray, dst: np.ndarray, windows: np.ndarray) -> tuple[float, float, float]:
    """The window of `src` along one axis (its mean profile across the other) that best explains `dst`'s:
    (keep, offset, the error left as a share of `dst`'s variance)."""
    return _best_window(_centred(_sample(src, windows)), dst, windows)


def _centred(sampled: np.ndarray) -> np.ndarray:
    """Resampled profiles (windows, ...) with each window's mean taken out."""
    return sampled - sampled.mean(axis=tuple(range(1, sampled.ndim)), keepdims=True)


def _best_window(sampled: np.ndarray, dst: np.ndarray, windows: np.ndarray) -> tuple[float, float, float]:
    """Of the windows whose centred resampled profiles are `sampled`, the one that explains `dst` best after
    a gain: (keep, offset, the error left as a share of `dst`'s variance)."""
    flat = sampled.reshape(len(windows), -1)
    target = (dst - dst.mean()).reshape(-1)
    gain = flat @ target / np.maximum((flat ** 2).sum(axis=1), 1e-6)
    err = ((target[None] - gain[:, None] * flat) ** 2).sum(axis=1)
    best = int(np.argmin(err))
    keep, offset = windows[best]
    return float(keep), float(offset), float(err[best] / max(float((target ** 2).sum()), 1e-6))


def _warp(src: np.ndarray, kx: float, ky: float, fx: float, fy: float) -> np.ndarray:
    """The region of `src` (kx x ky of its sides, at offset fractions fx, fy) resampled to the full grid."""
    n = len(src)
    x0, y0 = fx * (1 - kx) * n, fy * (1 - ky) * n
    m = np.float32([[kx, 0, x0 + 0.5 * kx - 0.5], [0, ky, y0 + 0.5 * ky - 0.5]])
    return cv2.warpAffine(src, m, (n, n), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REFLECT)


def _residual(x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """y minus x brought to y's brightness and contrast (one gain and offset for all channels), at 16x16."""
    xv, yv = x.reshape(-1), y.reshape(-1)
    gain = float(np.dot(xv - xv.mean(), yv - yv.mean()) / max(float(((xv - xv.mean()) ** 2).sum()), 1e-6))
    r = y - (gain * x + (yv.mean() - gain * xv.mean()))
    return gain, r.reshape(GRID // 2, 2, GRID // 2, 2, 3).mean(axis=(1, 3))


def _soft(grid: np.ndarray) -> np.ndarray:
    """Both grids are softened before they are compared: what a trim's imperfect alignment leaves is fine
    detail, what an edit leaves is not."""
    return cv2.GaussianBlur(grid, (0, 0), SOFTEN)


def _score(src: np.ndarray, dst: np.ndarray, window=(1.0, 1.0, 0.0, 0.0)) -> tuple[float, float, float, float]:
    """(keep, gain, rms per unit of contrast, largest cell residual) of `dst` (softened) as the region
    `window` (kx, ky, fx, fy) of `src`."""
    kx, ky = window[:2]
    gain, r = _residual(_soft(_warp(src, *window)) if min(kx, ky) < 1 else _soft(src), dst)
    return (min(kx, ky), gain, float(np.sqrt((r ** 2).mean())) / (float(dst.std()) + 1.0),
            float(np.abs(r).mean(axis=2).max()))


def aligned(a: Frame, b: Frame, max_trim: float) -> tuple[float, float, float, float]:
    """The best alignment of the two grids, one a trim of the other (up to `max_trim` of each side, the sides
    trimmed independently): (keep, gain from a's contrast to b's, rms per unit of contrast, largest cell
    residual). Each axis's trim is fitted on the grids' mean profiles along it (one small vectorised search),
    then the two grids compared."""
    windows = _axis_windows(max_trim)
    best = None
    for src, dst, forward in ((a.grid, b.grid, True), (b.grid, a.grid, False)):
        soft_src, soft_dst = _soft(src), _soft(dst)
        kx, fx, _ = _fit_axis(soft_src.mean(axis=0), soft_dst.mean(axis=0), windows)
        ky, fy, _ = _fit_axis(soft_src.mean(axis=1), soft_dst.mean(axis=1), windows)
        keep, gain, rms, local = _score(src, soft_dst, (kx, ky, fx, fy))
        if best is None or rms < best[2]:
            best = (keep, gain if forward else 1 / max(gain, 1e-6), rms, local)
    return best


def overlay(a: Frame, b: Frame) -> float:
    """The largest local difference of the two pictures at 64 px gray (4x4-px cells; one aligned to the other
    as for a trim, their tones matched) past four times their median difference: an overlay is a local change
    far above what re-encoding, resizing and trimming spread over the whole picture. The trim is fitted both
    ways on the mean profiles; the pictures are compared the way that fits better."""
    fits = []
    for src, dst in ((a, b), (b, a)):
        (kx, fx, ex), (ky, fy, ey) = (_best_window(src.fine_windows[n], dst.fine_profiles[n], TRIM_WINDOWS)
                                      for n in (0, 1))
        fits.append((ex + ey, src, dst, (kx, ky, fx, fy)))
    _, src, dst, (kx, ky, fx, fy) = min(fits, key=lambda f: f[0])
    y = dst.fine_soft
    if min(kx, ky) < 1:
        x = _warp(src.fine_soft, kx, ky, fx, fy)
        x_edges = _gradient(x)
    else:
        x, x_edges = src.fine_soft, src.fine_edges
    x = _matched(x, dst.fine_sorted)
    # a difference along an edge both pictures have is a trim's sub-pixel misalignment, not an overlay
    r = np.abs(y - x) / (1 + EDGE_SLACK * np.minimum(x_edges, dst.fine_edges))
    cells = r.reshape(FINE // 4, 4, FINE // 4, 4).mean(axis=(1, 3))
    return float(cells.max() - 4 * np.median(r))


EDGE_SLACK = 0.1  # pixels of misalignment forgiven along an edge both pictures have


def _gradient(im: np.ndarray) -> np.ndarray:
    return np.hypot(cv2.Sobel(im, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(im, cv2.CV_32F, 0, 1, ksize=3)) / 8


def _matched(x: np.ndarray, tones: np.ndarray) -> np.ndarray:
    """x with another picture's tones (its values sorted): histogram matching, which takes brightness,
    contrast, gamma, even clipped highlights."""
    out = np.empty(x.size, np.float32)
    out[np.argsort(x, axis=None)] = tones
    return out.reshape(x.shape)


def colourfulness(grid: np.ndarray) -> float:
    return float(np.abs(grid - grid.mean(axis=2, keepdims=True)).mean())


def sharpness_ratio(a: Frame, b: Frame) -> float:
    """The softer picture's fine detail as a share of the sharper one's, at the largest side both were
    measured at (1: none in common, pictures too small and unequal: not judged)."""
    x, y = dict(a.detail), dict(b.detail)
    common = x.keys() & y.keys()
    if not common:
        return 1.0
    side = max(common)
    return min(x[side], y[side]) / max(x[side], y[side], 1e-6)


def _cheap(a: Frame, b: Frame, rules: Rules) -> dict:
    return {"aspect": abs(float(np.log(a.aspect / b.aspect))), "sharpness": sharpness_ratio(a, b),
            "colours": (colourfulness(a.grid), colourfulness(b.grid))}


def _colour(colours: tuple[float, float], gain: float, rules: Rules) -> float:
    """How far b's colourfulness is from a's scaled by the contrast gain from a to b (a contrast change
    scales both; a saturation, grayscale or hue edit only the colours), past what is allowed (> 0: fails)."""
    expected, found = gain * colours[0], colours[1]
    share, slack = rules.colour
    return abs(expected - found) - share * max(expected, found) - slack


def _passes(m: dict, rules: Rules) -> bool:
    lo, hi = rules.gain
    ca, cb = m["colours"]
    gain = m.get("gain")
    kindest = cb / ca if ca > 0 else 1.0  # before the pictures are compared: the gain that suits the colours
    colour = _colour(m["colours"], min(max(kindest if gain is None else gain, lo), hi), rules)
    return all(m[k] <= limit for k, limit in (("aspect", rules.max_aspect_change), ("rms", rules.max_residual),
                                             ("local", rules.max_local)) if k in m) \
        and colour <= 0 and m["sharpness"] >= rules.min_sharpness and (gain is None or lo <= gain <= hi)


def same_frame(a: Frame | None, b: Frame | None, rules: Rules = RULES) -> bool:
    """Whether a pair of copies is a duplicate (True) rather than a match; no signature: not a duplicate.
    The cheap measures first, then the pictures as they are, then the search over trims, then overlays at
    64 px."""
    if a is None or b is None:
        return False
    if a.grid.tobytes() > b.grid.tobytes():  # one order, so the verdict does not depend on which came first
        a, b = b, a
    m = _cheap(a, b, rules)
    if not _passes(m, rules):
        return False
    _, m["gain"], m["rms"], m["local"] = _score(a.grid, _soft(b.grid))
    if not _passes(m, rules):
        if m["rms"] > rules.search_above:  # too different for a trim to explain: not worth the search
            return False
        _, m["gain"], m["rms"], m["local"] = aligned(a, b, rules.max_trim)
        if not _passes(m, rules):
            return False
    return overlay(a, b) <= rules.max_overlay
