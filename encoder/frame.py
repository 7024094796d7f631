"""The same-frame check: two copies of a picture are a **duplicate** (merged without a look) only if they show it
in the same frame and colours: re-encoded, resized, converted, lightly adjusted, trimmed by a few per cent.
Anything else the embedding finds (cropped, mirrored, turned, recoloured, overlaid, bordered, blurred) is a
**match**. The embedding cannot tell these apart (it is trained to ignore exactly these edits), so the check
compares a signature kept per image, made from the decode the encoder needs anyway:

- the whole picture squashed to 32x32 in colour; the two are aligned (one may be a trim of the other, up to
  `max_trim` of each side), brought to the same brightness and contrast, then compared: an overlay, a
  border, a mirror or a crop leaves a residual, everywhere or in one place;
- the whole picture squashed to 64x64 in gray: the alignment of what still looks a duplicate is refined
  there (a turn or a mirror shows in it, a border in what it leaves out), then text, logos and stickers too
  thin for 32 px are looked for, and in the grid's chroma too (a caption can have the gray of its background);
- the whole picture squashed to 128x128 in gray, for pictures that large: the same look for overlays, finer
  (a watermark's strokes, a handle or a date stamp a few per cent high);
- the aspect ratio of the original (a crop, a border or a turn changes it);
- the colourfulness (tints and filters change it while the gray levels stay), and the chroma itself: aligned,
  one picture's chroma explains the other's at about the same gain (grayscale and saturation edits scale it,
  hue edits turn it, and the turn is measured too: a gain near 1 can hide one; compression adds noise that
  does not correlate, so the faint colour of a nearly gray picture, which heavy JPEG changes by more than its
  magnitude, stays comparable);
- the fine detail at long sides from 256 down to 64 px (each capped at the picture's own): a strong blur
  removes most of it, re-encoding and resizing do not. A pair compares it at the largest side both were
  measured at, and from what the softer lost there estimates its blur in its own pixels: a 1024-px picture
  blurred by 3 px loses a little of it at 256 px, which is 3 px at its own size;
- the direction of that detail at each side (how much it varies across columns against across rows, and
  along one diagonal against the other): a blur along one direction (a camera's shake, motion) takes the
  detail across it and leaves the rest, which a measure of the detail alone half misses;
- the rim: per side, the lines from the edge in, each one's detail and the spread of its levels: what a
  trim cuts off is picture, a frame round the picture is plain or, filled with the picture blurred, has no
  detail;
- the tones' peaks: how much of each channel's histogram sits in narrow peaks (posterisation leaves a few
  levels where the picture had a continuum; a brightness or contrast change moves and stretches the
  histogram, keeping its shape).
"""
from __future__ import annotations

import functools
import struct
from dataclasses import dataclass, replace
from typing import NamedTuple

import cv2
import numpy as np
from PIL import Image

GRID = 32
FINE = 64  # the gray picture kept for overlays (thin text vanishes at 32 px)
FINER = 128  # ... and at twice that, for pictures that large: a watermark's strokes or a caption thin at 64 px
SHARP_SIDES = tuple(round(256 / 2 ** (k / 4)) for k in range(9))  # long sides, 256 to 64 in steps of 2^(1/4),
#   at which the fine detail is measured (each capped at the picture's): a thumbnail is compared close to its
#   own size, where a blur of the larger picture shrinks least
SHARP_SIDE = SHARP_SIDES[0]  # the decode must reach this long side for the sharpness to be measured (a 4 MP
#   JPEG decodes at 1/8 of its size, from its DC coefficients alone: a fraction of the cost of 1/4)
DETAIL_BAND = (0.8, 1.6)  # the fine detail: a difference of Gaussians (sigmas in pixels at the measuring side);
#   measured two sides down (x 0.71), it is the band of sigmas 1.13 and 2.26 at the measuring side
BLUR_LOSS = 0.4  # a blur of sigma s (in pixels at the measuring side) keeps exp(-BLUR_LOSS x s^2) of the fine
#   detail (the median over training photos blurred by 0.7 to 1.5 px)
SOFTEN = 0.8  # Gaussian sigma, in grid cells, applied to both grids before they are compared
SHARPEST = 0.6  # the planes' own softening (pixels), that of a picture of 64 px or more
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
PEAK_SIGMAS = (1.5, 6.0)  # a histogram's tone peaks: what smoothing it by the first (levels) keeps and by the
#   second removes; narrower than the first is compression's noise and a stretch's comb, wider is the picture's
PEAK_IGNORED = (8, 4)  # ... ignoring the levels this near black and white (clipped) and this near the most
#   common level (a plain background: one peak, which a brightness change clips or frees)
PEAK_MIN_SIDE = 288  # pictures smaller than this (long side) are not compared by their tone peaks: too few
#   pixels for a histogram of 256 levels, and a small graphic's PNG has its few colours where a JPEG of it
#   spreads them
PLAIN = 1.0  # a picture whose gray levels vary by less than this (standard deviation, 0..255) is a solid colour
EDGE_SLACK = 0.1  # pixels of misalignment forgiven along an edge both pictures have
CLIPPED_NEAR = 10.0  # levels (0..255) from a picture's top level within which a brightened grid cell counts as clipped
RIM = 28  # lines along each side, from the edge in, whose detail and variation are kept (11 % of a 256-px side)
KEY = "frame32x3v7"  # stored beside the encoders' vectors, keyed by content hash and this name


class Plane:
    """One channel of a picture (gray at 64 px, or chroma at 32) as the overlay test needs it, made once
    however many pairs the picture is in."""

    def __init__(self, pixels: np.ndarray, sigma: float):
        self.pixels, self.sigma = pixels, sigma

    @functools.cached_property
    def soft(self) -> np.ndarray:
        return cv2.GaussianBlur(self.pixels.astype(np.float32), (0, 0), self.sigma)

    @functools.cached_property
    def sorted(self) -> np.ndarray:
        return np.sort(self.soft, axis=None)

    @functools.cached_property
    def edges(self) -> np.ndarray:
        return _gradient(self.soft)

    @functools.cached_property
    def order(self) -> np.ndarray:
        """The order that sorts the softened values, for histogram matching onto another picture's tones
        (_matched)."""
        return np.argsort(self.soft, axis=None)

    @functools.cached_property
    def spread(self) -> float:
        return float(self.soft.std())


@dataclass(frozen=True)
class Frame:
    grid: np.ndarray  # (32, 32, 3) float32, 0..255: the whole picture squashed
    aspect: float  # width / height of the original, after EXIF rotation
    detail: tuple[tuple[int, float], ...]  # per SHARP_SIDES: (long side, fine detail per unit of contrast there)
    fine: np.ndarray  # (64, 64) uint8: the whole picture squashed, gray
    long_side: int  # of the original, in pixels: a blur is judged in the picture's own pixels
    direction: tuple[tuple[float, float], ...]  # per detail side: the detail's direction (_detail)
    rim: np.ndarray  # (4, 2, RIM) float32: per side (left, right, top, bottom), per line from the edge in, at
    #   the largest detail side: its fine detail and its gray levels' spread along it, per unit of contrast
    peaks: float = 0.0  # tone_peaks() of the decode: posterisation raises it
    finer: np.ndarray | None = None  # (128, 128) uint8: the whole picture squashed, gray (FINER)

    @functools.cached_property
    def planes(self) -> tuple[Plane, Plane, Plane]:
        """Gray at 64 px, and chroma (Cr, Cb) at 32 from the grid: JPEG keeps colour at half the resolution
        of brightness, and a caption in a colour of its background's gray shows only there."""
        return (Plane(self.fine, SHARPEST), *_chroma_planes(self.grid))

    @functools.cached_property
    def finer_plane(self) -> Plane | None:
        return None if self.finer is None else Plane(self.finer, SHARPEST)

    @property
    def fine_soft(self) -> np.ndarray:
        return self.planes[0].soft

    @functools.cached_property
    def colourfulness(self) -> float:
        return colourfulness(self.grid)

    @functools.cached_property
    def plain(self) -> bool:
        """One colour all over (a placeholder, a swatch): no gray detail at the finest size kept, no change of
        colour at 32 px."""
        gray = self.fine if self.finer is None else self.finer
        return float(gray.std()) < PLAIN and float(self.grid.std(axis=(0, 1)).max()) < PLAIN

    @functools.cached_property
    def grid_soft(self) -> np.ndarray:
        return _soft(self.grid)

    @functools.cached_property
    def clips(self) -> bool:
        """Whether the grid's channels are over 249 at 1 % of their values or more (_clipped_alike)."""
        return np.count_nonzero(self.grid >= 250) >= 0.01 * self.grid.size

    @functools.cached_property
    def grid_spread(self) -> float:
        return float(self.grid_soft.std())

    @functools.cached_property
    def grid_windows(self) -> tuple[np.ndarray, np.ndarray]:
        """The softened grid's mean colour profile along each axis over every trim window: (windows, 32, 3)."""
        return tuple(_centred(_sample(self.grid_soft.mean(axis=n), TRIM_WINDOWS)) for n in (0, 1))

    @functools.cached_property
    def fine_profiles(self) -> tuple[np.ndarray, np.ndarray]:
        return self.fine_soft.mean(axis=0), self.fine_soft.mean(axis=1)

    @functools.cached_property
    def fine_windows(self) -> tuple[np.ndarray, np.ndarray]:
        """Each axis's profile resampled over every trim window (TRIM_WINDOWS), centred: (windows, 64)."""
        return tuple(_centred(_sample(profile, TRIM_WINDOWS)) for profile in self.fine_profiles)

    def to_bytes(self) -> bytes:
        return (np.clip(self.grid, 0, 255).astype(np.uint8).tobytes() + self.fine.tobytes()
                + struct.pack(f"<fiif{'ifff' * len(self.detail)}", self.aspect, self.long_side, len(self.detail),
                              self.peaks,
                              *(x for (side, level), way in zip(self.detail, self.direction)
                                for x in (side, level, *way)))
                + self.rim.astype(np.float16).tobytes() + (b"" if self.finer is None else self.finer.tobytes()))

    @classmethod
    def from_bytes(cls, raw: bytes) -> "Frame":
        n, m = GRID * GRID * 3, FINE * FINE
        aspect, long_side, count, peaks = struct.unpack("<fiif", raw[n + m:n + m + 16])
        end = n + m + 16 + 16 * count
        rim_end = end + 4 * 2 * RIM * 2  # float16
        values = struct.unpack(f"<{'ifff' * count}", raw[n + m + 16:end])
        return cls(np.frombuffer(raw[:n], np.uint8).reshape(GRID, GRID, 3).astype(np.float32), aspect,
                   tuple(zip(values[::4], values[1::4])),
                   np.frombuffer(raw[n:n + m], np.uint8).reshape(FINE, FINE), long_side,
                   tuple(zip(values[2::4], values[3::4])),
                   np.frombuffer(raw[end:rim_end], np.float16).astype(np.float32).reshape(4, 2, RIM), peaks,
                   np.frombuffer(raw[rim_end:], np.uint8).reshape(FINER, FINER) if len(raw) > rim_end else None)


def _chroma_planes(grid: np.ndarray) -> tuple[Plane, Plane]:
    """A grid's Cr and Cb planes, as the overlay test compares them."""
    ycc = cv2.cvtColor(np.clip(grid, 0, 255).astype(np.uint8), cv2.COLOR_RGB2YCrCb)
    return Plane(ycc[..., 1], SHARPEST), Plane(ycc[..., 2], SHARPEST)


def signature(im: Image.Image, width: int, height: int) -> Frame:
    """The signature of a decoded RGB picture whose original is width x height (decoded at least SHARP_SIDE
    on its long side, or whole)."""
    rgb = np.asarray(im)
    small = cv2.resize(rgb, (FINE, FINE), interpolation=cv2.INTER_AREA)  # one pass over the decode for both
    grid = cv2.resize(small, (GRID, GRID), interpolation=cv2.INTER_AREA).astype(np.float32)
    fine = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    finer = cv2.resize(gray, (FINER, FINER), interpolation=cv2.INTER_AREA)
    detail, direction, rim = [], [], None
    for side in sorted({min(s, max(width, height)) for s in SHARP_SIDES}, reverse=True):
        gray = _shrunk(gray, side)  # each side from the last one: cheap
        level, *way, band = _detail(gray)
        detail.append((side, level))
        direction.append(tuple(way))
        if rim is None:
            rim = _rim(gray, band)
    return Frame(grid, width / max(height, 1), tuple(detail), fine, max(width, height), tuple(direction), rim,
                 tone_peaks(rgb), finer)


def tone_peaks(rgb: np.ndarray) -> float:
    """The share of each channel's histogram (of an RGB uint8 picture) in peaks narrower than PEAK_SIGMAS[1],
    averaged over channels: half the absolute difference of the histogram smoothed by the two sigmas. About 0.1
    for a photo; posterised to 3 bits, 0.1 to 0.3 more. Clipped levels and the most common level are left out
    (PEAK_IGNORED): a brightness change clips a plain background or frees it, which moves that one peak."""
    ends, mode = PEAK_IGNORED
    out = []
    for c in range(3):
        h = cv2.calcHist([rgb], [c], None, [256], [0, 256]).ravel()
        h[:ends], h[256 - ends:] = 0, 0
        top = int(np.argmax(_smoothed(h, PEAK_SIGMAS[0])))
        h[max(0, top - mode):top + mode + 1] = 0
        total = float(h.sum())
        if total <= 0:
            out.append(0.0)
            continue
        fine, broad = (_smoothed(h / total, s) for s in PEAK_SIGMAS)
        out.append(0.5 * float(np.abs(fine - broad).sum()))
    return float(np.mean(out))


def _smoothed(h: np.ndarray, sigma: float) -> np.ndarray:
    """A histogram blurred by a Gaussian of `sigma` levels, reflected at its ends."""
    return cv2.GaussianBlur(h.astype(np.float32).reshape(1, -1), (2 * round(3 * sigma) + 1, 1), sigma,
                            borderType=cv2.BORDER_REFLECT).ravel()


def _rim(gray: np.ndarray, band: np.ndarray) -> np.ndarray:
    """Per side (left, right, top, bottom), per line from the edge in (RIM of them, fewer in a picture that
    thin: the rest repeat the last), the line's mean absolute band-passed detail and its gray levels'
    standard deviation along it, both per unit of the picture's contrast: a frame round a picture is a run of
    lines with no detail, plain (a border) or not (a blurred copy of the picture), where the picture's own
    edge has detail."""
    contrast = float(cv2.meanStdDev(gray)[1][0, 0]) + 1.0
    out = np.empty((4, 2, RIM), np.float32)
    for axis, sides in ((0, (0, 1)), (1, (2, 3))):  # per column (left, right), per row (top, bottom)
        n = min(RIM, gray.shape[1 - axis])
        first, last = ((slice(None), slice(0, n)), (slice(None), slice(-1, -n - 1, -1))) if axis == 0 else \
            ((slice(0, n), slice(None)), (slice(-1, -n - 1, -1), slice(None)))
        g = np.concatenate([gray[first], gray[last]], axis=1 - axis).astype(np.float32)
        b = np.abs(np.concatenate([band[first], band[last]], axis=1 - axis))
        detail, mean, square = (cv2.reduce(x, axis, cv2.REDUCE_AVG).ravel() for x in (b, g, g * g))
        spread = np.sqrt(np.maximum(square - mean * mean, 0))
        idx = np.minimum(np.arange(RIM), n - 1)
        for k, offset in zip(sides, (0, n)):
            out[k, 0], out[k, 1] = detail[offset + idx] / contrast, spread[offset + idx] / contrast
    return out


def _shrunk(pixels: np.ndarray, side: int) -> np.ndarray:
    """The picture with its long side brought down to `side` (if longer): halved by 2x2 averages while twice as
    long, then linear. Halving the way a JPEG decoder's own scaling does (sharp, unlike a Gaussian pyramid)
    makes the detail of a picture decoded at twice the size (for a larger encoder's input, or a PNG) the
    detail of its draft decode; a fraction of OpenCV's area resampling's cost at the other ratios."""
    while max(pixels.shape[:2]) >= 2 * side:
        h, w = max(1, pixels.shape[0] // 2), max(1, pixels.shape[1] // 2)  # a line 1 px thick stays one
        pixels = cv2.resize(pixels[:2 * h, :2 * w], (w, h), interpolation=cv2.INTER_AREA)
    k = side / max(pixels.shape[:2])
    if k >= 1:
        return pixels
    return cv2.resize(pixels, (max(3, round(pixels.shape[1] * k)), max(3, round(pixels.shape[0] * k))),
                      interpolation=cv2.INTER_LINEAR)


BAND_KERNELS = [(k, k) for k in (cv2.getGaussianKernel(2 * round(3 * s) + 1, s, cv2.CV_32F) for s in DETAIL_BAND)]
#   Gaussian kernels cut at 3 sigma, applied to the uint8 picture (the same values as blurring it in floats)
STEPS = (((slice(None), slice(1, None)), (slice(None), slice(None, -1))),  # across columns
         ((slice(1, None),), (slice(None, -1),)),  # across rows
         ((slice(1, None), slice(1, None)), (slice(None, -1), slice(None, -1))),  # along a diagonal
         ((slice(1, None), slice(None, -1)), (slice(None, -1), slice(1, None))))  # along the other one


def _detail(g: np.ndarray) -> tuple[float, float, float, np.ndarray]:
    """Mean band-passed detail (DETAIL_BAND) of a gray uint8 picture per unit of contrast, what a blur removes
    first, and its direction: the logs of how much it varies across columns over across rows, and along one
    diagonal over the other (0, 0 for a picture with no preferred direction: a blur along one direction lowers
    one of each pair), and the band itself."""
    band = cv2.sepFilter2D(g, cv2.CV_32F, *BAND_KERNELS[0]) - cv2.sepFilter2D(g, cv2.CV_32F, *BAND_KERNELS[1])
    level = cv2.norm(band, cv2.NORM_L1) / g.size / (float(cv2.meanStdDev(g)[1][0, 0]) + 1.0)
    x, y, d, e = (cv2.norm(band[u], band[v], cv2.NORM_L1) + 1e-3 for u, v in STEPS)
    return level, float(np.log(x / y)), float(np.log(d / e)), band


@dataclass(frozen=True)
class Rules:
    max_aspect_change: float = 0.08  # |log(aspect a / aspect b)|: a trim of up to 7.7 % off one side; a band added
    #   to a side changes it as much, and the frame tests below tell the two apart
    max_trim: float = 0.10  # one picture may be the other with this much cut off its sides
    max_stretch: float = 0.04  # ... and the part kept have the other's aspect ratio within this (stretch())
    search_above: float = 1.0  # pictures that differ more than this as they are: no trim is searched for (coins
    #   in rows, cut by 7 %, differ by 0.8 as they are: a row moves onto the next)
    max_residual: float = 0.10  # aligned, same brightness: RMS difference at 16x16 per unit of contrast
    max_local: float = 28.0  # ... and no 16x16 cell off by more than this (0..255): overlays, patches
    gain: tuple[float, float] = (0.75, 1.33)  # contrast changed by at most this factor (a faded filter: 0.6)
    colour: tuple[float, float] = (0.35, 1.0)  # colourfulness (mean |chroma|, 0..255), the contrast gain
    #   applied, differs by at most this share of the larger plus this much: tints, sepia, strong saturation;
    #   under 1 it is compression noise (heavy JPEG of a nearly gray picture changes it several times over)
    chroma_gain: float = 1.25  # aligned, one picture's chroma regressed on the other's, either way, has a gain
    #   within this factor of the gray levels' (their spreads' ratio): a saturation edit scales the chroma
    #   alone (0.75 or 1.3 fails, 1.15 not), grayscale removes it, a hue edit turns it (past 37 degrees);
    #   noise from compression does not correlate
    max_hue_turn: float = 20.0  # ... and, where the two chromas are the same pattern turned, one is turned from
    #   the other round the gray axis by at most this (degrees): a hue edit of 30 degrees turns it 28 to 30
    #   even in a nearly gray picture, which the gains above let pass
    hue_correlation: float = 0.97  # the same pattern turned: the chromas' correlation (_turned) reaches this (hue
    #   edits 0.99 or more). JPEG at q10 to q20 quantises a faint colour's two chroma channels apart, which
    #   turns it by up to 40 degrees but leaves them less alike (0.95 the most where it turned more than 10)
    min_sharpness: float = 0.7  # the softer keeps at least this share of the sharper one's fine detail (two
    #   sides below the one compared)
    max_blur: float = 1.7  # ... and is blurred by at most this (Gaussian sigma, in its own pixels): slight
    #   blurs, sharpening and resampling stay under it, a blur that shows at the picture's size does not
    max_peaks: float = 0.06  # the two pictures' tone peaks (tone_peaks()) differ by at most this: benign copies
    #   of 60 photos against the photo by 0.05 at most, posterised ones by 0.09 (median); heavy JPEG's flat
    #   blocks peak too (one benign pair of seed 11's 600 differs by 0.08)
    max_turned_detail: float = 0.25  # ... and, untrimmed, the detail's direction there (_detail's two log
    #   ratios) moved by at most this: a blur along one direction (sigma s, in pixels at that side) moves it by
    #   about 0.4 s^2, and lowers the amount of detail, averaged over all directions, about half as much as a
    #   blur all round. Benign copies: 0.14 the most over 2,700 pairs of five benchmark draws
    blur_seen: float = 0.86  # no blur is estimated from a finest detail kept above this share (its noise,
    #   times the picture's size over the measuring side, would exceed max_blur in large photos)
    max_profile_error: float = 0.2  # a trim whose best window leaves more than this share of either axis's mean
    #   profile unexplained is not compared further: trims judged duplicates leave 0.1 at most on five draws
    refine_below: float = 0.2  # a trim search's fit this close is refined and compared again
    settled: float = 0.03  # pictures that pass as they are this close are not refined (a turn of 3 degrees
    #   leaves more, even in a dark picture: 0.047 the least on the benchmark's draws)
    max_turn: float = 0.05  # the aligning affine's off-diagonal share: turned by 3 degrees or more, or mirrored
    max_rotation: float = 0.026  # ... and its turn alone, a shear aside (sin 1.5 degrees): benign pairs refine to
    #   0.018 at most over the 711 of five benchmark draws refined, a 2-degree turn to 0.036 or more
    plain: float = 4.0  # a band cut off is plain if it varies by at most this (0..255, standard deviation) ...
    unlike: float = 16.0  # ... and the bands a border if their levels are this far from the picture's edges
    bar_plain: float = 0.5  # one band on one side: a bar if this share of it is within `plain` of one level
    bar_same: float = 0.2  # ... and at most this share of the positions along it like the picture's edge
    frame_spread: float = 0.2  # a margin whose lines vary along them by more than this (standard deviation per
    #   unit of contrast) is picture or a blurred fill, not a plain band ...
    min_frame_detail: float = 0.15  # ... and a blurred fill if it has under this share of the picture's edge's
    #   fine detail: trims of five benchmark draws keep 0.23 or more, 4 % blurred fills 0.03 to 0.5
    frame_plain: float = 0.05  # a margin's rim lines varying along them by under this (per unit of contrast) ...
    edge_varies: float = 0.1  # ... where the picture's own edge lines vary by more than this ...
    frame_sides: int = 3  # ... on this many sides or more: a plain frame (plain_frame())
    edge_faint: float = 0.03  # ... or, where they vary by more than this, the margin's lines by under
    frame_flatter: float = 0.25  # ... this share of theirs (a black frame round a star field)
    min_surround_detail: float = 0.7  # ... or, a margin all round, under this share over its varying sides together:
    #   trims of five benchmark draws with a margin all round keep 0.75 or more, 4 % fills of 60 photos 0.19-0.63
    fill_spread: float = 0.02  # ... or, a margin all round that varies along its lines by more than this (a plain
    #   one, a studio's white cut round an object, is bordered()'s to judge; a blurred fill varies 0.02-0.15) ...
    fill_edge_detail: float = 0.01  # ... next to the picture's edge lines with this much fine detail, under
    #   min_frame_detail of it on every side (the edge lines of a smooth picture have next to none)
    max_overlay: float = 6.0  # gray at 64 px, chroma at 32, aligned and tone-matched: no cell (1/16 of each
    #   side) off by more than 4x the median difference plus this (0..255): text, logos, stickers
    max_fine_residual: float = 0.2  # ... and the gray pictures' RMS difference per unit of contrast at most this
    max_finer_overlay: float = 7.0  # ... and at 128 px (finer_overlay()), for pictures that large: bench/edits.py's
    #   benign kinds pass 0.92-1.00 of the time on photos of extra/, its marks (watermarks, handles, date stamps)
    #   0.05-0.28; against 8, the benchmark draws' benign copies pass as before and a few more text overlays and
    #   marks are matches (bench/frame_rules.py, docs/verification.md)
    plain_colour: float = 6.0  # two solid colours (Frame.plain) are one if no channel's mean differs by more than
    #   this (0..255): JPEG moves a solid colour by a few levels (test_frame: a white at q30, a red at q85)


RULES = Rules()

WHY = {  # why a pair is a match rather than a duplicate (difference()), as the report says it to the person who looks
    "unchecked": "not compared (a file could not be read again)",
    "shape": "another shape: cropped, bordered, padded, stretched or turned",
    "colour": "other colours: recoloured (grayscale, saturation, a tint, a filter), or a coloured border or patch",
    "content": "the picture differs: cropped, mirrored, turned, recoloured or drawn over",
    "overlay": "something over part of it: text, a logo, a sticker, a patch",
    "contrast": "contrast changed more than a light adjustment does (faded)",
    "sharpness": "blurred or smeared",
    "tones": "fewer tones: posterised",
    "turned": "turned or mirrored",
    "frame": "a border, a bar or a fill round it",
}
WHOLE_PICTURE = ("colour", "contrast", "sharpness", "tones")  # reasons a crop, a border or a turn also gives
LENIENT = tuple(replace(RULES, max_aspect_change=float("inf"), colour=(1.0, float("inf")), gain=(0.0, float("inf")),
                        max_blur=float("inf"), min_sharpness=0.0, max_peaks=float("inf"),
                        max_profile_error=float("inf"), max_trim=trim)
                for trim in (RULES.max_trim, 0.25))  # the check without them, every trim tried, then wider ones too


def _axis_windows(max_trim: float) -> np.ndarray:
    """Candidate (keep, offset fraction) windows along one axis: the whole, then trims in steps of 1 %."""
    keeps = np.arange(1.0, 1 - max_trim - 1e-6, -0.01)
    offsets = np.linspace(0, 1, 9)
    return np.array([(k, f) for k in keeps for f in (offsets if k < 1 else [0.0])], np.float32)


TRIM_WINDOWS = _axis_windows(RULES.max_trim)  # the overlay test's, sampled once per picture
TRIM_CANDIDATES = 2  # per axis, the best windows by profile whose combinations the grids decide between


def _sample(profile: np.ndarray, windows: np.ndarray) -> np.ndarray:
    """A profile (n, ...) resampled over each window (keep, offset): (windows, n, ...), linearly."""
    low, high, w = _sampling(len(profile), windows.tobytes())
    w = w.reshape(*w.shape, *([1] * (profile.ndim - 1)))
    return profile[low] * (1 - w) + profile[high] * w


@functools.lru_cache(maxsize=8)
def _sampling(n: int, windows: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """_sample's positions for profiles of n values over the windows (as bytes, to be cached: every picture is
    resampled over the same few): the lower and upper neighbours and the weight of the upper."""
    keep, offset = np.frombuffer(windows, np.float32).reshape(-1, 2).T[:, :, None]
    pos = np.clip(offset * (1 - keep) * n + (np.arange(n) + 0.5) * keep - 0.5, 0, n - 1)
    low = np.floor(pos).astype(np.intp)
    return low, np.minimum(low + 1, n - 1), pos - low


def _centred(sampled: np.ndarray) -> np.ndarray:
    """Resampled profiles (windows, ...) with each window's mean taken out."""
    return sampled - sampled.mean(axis=tuple(range(1, sampled.ndim)), keepdims=True)


def _best_windows(sampled: np.ndarray, dst: np.ndarray, windows: np.ndarray,
                  n: int = 1) -> list[tuple[float, float, float]]:
    """Of the windows whose centred resampled profiles are `sampled`, the `n` that explain `dst` best after a
    gain, best first: (keep, offset, the error left as a share of `dst`'s variance)."""
    flat = sampled.reshape(len(windows), -1)
    target = (dst - dst.mean()).reshape(-1)
    gain = flat @ target / np.maximum((flat ** 2).sum(axis=1), 1e-6)
    err = ((target[None] - gain[:, None] * flat) ** 2).sum(axis=1)
    total = max(float((target ** 2).sum()), 1e-6)
    return [(float(windows[i][0]), float(windows[i][1]), float(err[i] / total)) for i in np.argsort(err)[:n]]


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


def _soft(grid: np.ndarray, more: float = 0.0) -> np.ndarray:
    """Both grids are softened before they are compared (by `more` cells more over a trim): what a trim's
    imperfect alignment leaves is fine detail, what an edit leaves is not."""
    return cv2.GaussianBlur(grid, (0, 0), float(np.hypot(SOFTEN, more)))


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


def refined(src: Frame, dst: Frame, unit: np.ndarray, margin: int = 0) -> np.ndarray | None:
    """The affine that best maps `dst` onto `src` at 64 px gray, refined from `unit` by OpenCV's enhanced
    correlation coefficient: sub-pixel trims, and the turn or mirror a trim search cannot express (None: it
    did not converge). `margin`: lines of `dst` left out of the fit on each side (framed())."""
    shift = np.float32([margin, margin])
    start = _in_pixels(unit, FINE)
    start[:, 2] += start[:, :2] @ shift
    inner = np.ascontiguousarray(dst.fine[margin:FINE - margin, margin:FINE - margin], np.float32)
    try:
        _, m = cv2.findTransformECC(inner, src.fine.astype(np.float32), start, cv2.MOTION_AFFINE, ECC_STOP, None, 5)
    except cv2.error:
        return None
    m[:, 2] -= m[:, :2] @ shift
    return _in_units(m, FINE)


ECC_STOP = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 50, 1e-4)
FRAME_FIT_MARGIN = 3  # lines of the 64-px trim left out when its window is refined for the frame tests (framed())


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
            found |= (k * one + c).max(axis=2) >= top - CLIPPED_NEAR
    return found


def _cells(mask: np.ndarray, cells: int) -> np.ndarray:
    """A grid-cell mask (32 x 32) as one over `cells` x `cells` cells: a cell is in it if any grid cell in it is."""
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
                slack: float = EDGE_SLACK, both_ways: bool = False,
                skip: np.ndarray | None = None) -> tuple[float, float]:
    """_differences()'s measures on one channel, `src` resampled over the window `unit`, both softened by
    `soften` more (pixels) where it is not 0 (TRIM_SOFTEN); the local one over `cells` x `cells` cells, `ring`
    of them along each side left out, with `slack` pixels of misalignment forgiven along edges, and with
    `both_ways` the smaller of the two ways of matching the tones (`src` to `dst`'s, and back): where one
    picture's highlights are packed against its white (a brighter copy with less contrast), its tones mapped
    onto the other's land on the white, while the other's mapped back onto its own stay close. `skip`: the
    cells left out of the local one."""
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
    local = _local(np.abs(y - matched) / slack_edges, cells, ring, skip)
    if both_ways:
        back = _matched(y, np.sort(x, axis=None) if x_tones is None else x_tones, y_order)
        local = min(local, _local(np.abs(back - x) / slack_edges, cells, ring, skip))
    return local, rms


def _local(r: np.ndarray, cells: int, ring: int, skip: np.ndarray | None = None) -> float:
    """The largest mean of `r` over `cells` x `cells` cells (`ring` of them along each side left out, and those
    `skip` holds), past four times its median."""
    k = len(r) // cells
    means = r.reshape(cells, k, cells, k).mean(axis=(1, 3))
    if skip is not None and skip.any():
        means = np.where(skip, 0.0, means)
    means = means[ring:cells - ring, ring:cells - ring]
    return float(means.max() - 4 * _median(r))


def _median(x: np.ndarray) -> float:
    """np.median of an array of an even number of values (the overlay test's planes), without its checks: the
    mean of the two middle values."""
    k = x.size // 2
    part = np.partition(x.reshape(-1), (k - 1, k))
    return (part[k - 1] + part[k]) / 2


def _chroma(grid: np.ndarray) -> np.ndarray:
    return grid - (_channel_sum(grid) / 3)[..., None]


def _channel_sum(grid: np.ndarray) -> np.ndarray:
    """The sum over the last axis (a grid's three channels), added in the order np.sum adds them: the same values
    without a reduction's overhead, which on arrays this small is most of its cost."""
    return grid[..., 0] + grid[..., 1] + grid[..., 2]


def chroma_agrees(src: Frame, dst: Frame, unit: np.ndarray, rules: Rules = RULES) -> bool:
    """Whether the softened grids' chroma, `src` over the window `unit`, is the same colour at the strength the
    pair's contrast gives it (brightness and contrast edits scale the chroma with the gray levels, saturation
    edits the chroma alone): regressed on each other either way, one of the two gains, over the ratio of the
    gray levels' spreads, is within `rules.chroma_gain` of 1 (noise on one side attenuates one regression,
    never both; a real change of colour moves both), and one not turned from the other by more than
    `rules.max_hue_turn` (_turned: a turn of 30 degrees scales the regression by cos 30, which the band
    passes). Cells clipped in either picture (a brightened sky) hold no colour to compare and are left out,
    unless fewer than a quarter of the grid would be left. Two pictures with next to no chroma (rms under
    a tenth of a level: the colour noise of film grain on a gray photo, squashed to 32 px) agree; a solid
    colour (gray spread under PLAIN) has no contrast to scale by, and agrees only with another, compared as it
    is."""
    x = src.grid_soft if unit is IDENTITY else _soft(_warp(src.grid, unit))
    y = dst.grid_soft
    channels = [grid[..., c] for grid in (x, y) for c in range(3)]
    keep = _unclipped(np.minimum.reduce(channels), np.maximum.reduce(channels))
    if keep is not None:
        x, y = x[keep], y[keep]
    spread_x, spread_y = (float((_channel_sum(grid) / 3).std()) for grid in (x, y))
    x, y = _chroma(x), _chroma(y)
    xy, xx, yy = float((x * y).sum()), float((x * x).sum()), float((y * y).sum())
    if max(xx, yy) < 1e-2 * x.size:
        return True
    if _turned(x, y, xy, xx, yy, rules):
        return False
    if min(spread_x, spread_y) < PLAIN:  # a solid colour has no contrast to scale its chroma by
        if max(spread_x, spread_y) >= PLAIN:
            return False
        contrast = 1.0
    else:
        contrast = spread_y / spread_x
    band = (1 / rules.chroma_gain, rules.chroma_gain)
    return any(band[0] <= g <= band[1] for g in (xy / max(xx, 1e-9) / contrast, xy / max(yy, 1e-9) * contrast))


def _turned(x: np.ndarray, y: np.ndarray, xy: float, xx: float, yy: float, rules: Rules) -> bool:
    """Whether the chroma `y` is the chroma `x` turned round the gray axis by more than `rules.max_hue_turn`
    (`xy`, `xx`, `yy`: their dot products): chroma lies in the plane across that axis, where the dot product
    is the cosine part of the turn and the cross product's component along the axis its sine part. Judged where
    the two are the same pattern turned (their correlation in that plane reaches `rules.hue_correlation`):
    uncorrelated chroma is noise, whose angle says nothing."""
    cross = float(np.cross(x, y).sum()) / np.sqrt(3)
    if np.hypot(xy, cross) < rules.hue_correlation * np.sqrt(xx * yy):
        return False
    return float(np.degrees(abs(np.arctan2(cross, xy)))) > rules.max_hue_turn


def _fine_agrees(a: Frame, b: Frame, alignments: list[tuple[Frame, Frame, np.ndarray] | None], rules: Rules,
                 soften: float = 0.0) -> bool:
    """No overlay in any channel, and the 64-px gray pictures agree as a whole, under one of the `alignments`
    (None: the overlay test fits its own trim): the grids can agree on the blobs of two different pictures of
    one kind (two star clusters), their detail does not. The trim is fitted once, for the 64- and 128-px tests."""
    for alignment in alignments:
        alignment = alignment or _trim_fit(a, b)
        clipped = _clipped_cells(*alignment)
        differences = _differences(a, b, alignment, soften, clipped)
        if (max(local for local, _ in differences) <= rules.max_overlay and differences[0][1] <= rules.max_fine_residual
                and finer_overlay(a, b, alignment, soften, clipped) <= rules.max_finer_overlay):
            return True
    return False


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
    if min(a.long_side, b.long_side) < FINER or a.finer is None or b.finer is None:
        return 0.0
    src, dst, unit = alignment or _trim_fit(a, b)
    return _difference(src.finer_plane, dst.finer_plane, unit, soften * FINER / FINE, cells=FINER // 4, ring=1,
                       slack=EDGE_SLACK * FINER / FINE, both_ways=True,
                       skip=_cells(_clipped_cells(src, dst, unit) if clipped is None else clipped, FINER // 4))[0]


def _gradient(im: np.ndarray) -> np.ndarray:
    return np.hypot(cv2.Sobel(im, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(im, cv2.CV_32F, 0, 1, ksize=3)) / 8


def _matched(x: np.ndarray, tones: np.ndarray, order: np.ndarray | None = None) -> np.ndarray:
    """x with another picture's tones (its values sorted): histogram matching, which takes brightness,
    contrast, gamma, even clipped highlights (`order`: x's argsort, if known)."""
    out = np.empty(x.size, np.float32)
    out[np.argsort(x, axis=None) if order is None else order] = tones
    return out.reshape(x.shape)


def colourfulness(grid: np.ndarray) -> float:
    return float(np.abs(_chroma(grid)).mean())


def _in_common(a: Frame, b: Frame) -> list[tuple[int, float, float]]:
    """The sides both pictures' detail was measured at, both shrunk to it or both at their own size (a picture
    at its own size keeps its JPEG blocks and resampling edges, which shrinking smooths), largest first, with
    each one's detail there."""
    x, y = dict(a.detail), dict(b.detail)
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


def _same_direction(m: dict, unit: np.ndarray, rules: Rules) -> bool:
    """Whether the detail kept its direction (`m`: the pair's _cheap measures), judged for pictures of the same
    extent only (aligned within 2 % of each side): a trim cuts off edges, and where a picture's detail is a
    few edges (an object on studio white) that alone can turn it."""
    untrimmed = bool((np.abs(unit - IDENTITY) <= 0.02 + 1e-5 * np.abs(IDENTITY)).all())  # np.allclose, atol 0.02
    return not untrimmed or m["turned_detail"] <= rules.max_turned_detail


def _cheap(a: Frame, b: Frame, rules: Rules) -> dict:
    common = _in_common(a, b)
    return {"aspect": abs(float(np.log(a.aspect / b.aspect))), "sharpness": sharpness_ratio(common),
            "blur": blur(a, b, common, rules), "turned_detail": turned_detail(a, b, common),
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
    places, then the contrast (a fit that fails gives a gain that means nothing), the sharpness, the tones."""
    lo, hi = rules.gain
    ca, cb = m["colours"]
    gain = m.get("gain")
    kindest = cb / ca if ca > 0 else 1.0  # before the pictures are compared: the gain that suits the colours
    colour = _colour(m["colours"], min(max(kindest if gain is None else gain, lo), hi), rules)
    passed = (("shape", m["aspect"] <= rules.max_aspect_change), ("colour", colour <= 0),
              ("content", m.get("rms", 0.0) <= rules.max_residual), ("overlay", m.get("local", 0.0) <= rules.max_local),
              ("contrast", gain is None or lo <= gain <= hi),
              ("sharpness", m["blur"] <= rules.max_blur and m["sharpness"] >= rules.min_sharpness),
              ("tones", m.get("peaks", 0.0) <= rules.max_peaks))
    return next((why for why, ok in passed if not ok), None)


def bordered(src: Frame, unit: np.ndarray, rules: Rules = RULES) -> bool:
    """Whether what the window `unit` leaves of `src` (at 64 px gray) is, on two sides or more and every side
    where it is at least 2 px wide, a plain band, on average unlike the picture next to it and equal to it
    (within `rules.plain`) at no more than half the positions along it: a border or a canvas round the
    picture, not a trim (a trim cuts picture off; trimmed sky or studio white is as plain, but continues what
    it adjoins, except where the object reaches the new edge, which a trim does on one side). On one side
    only, a bar (_a_bar)."""
    bands, inside = [], []
    for axis in (0, 1):  # 0: x (columns), 1: y (rows)
        # the picture's lines across this axis, unsoftened: softening would mix a band one or two lines thick
        #   (a border 3 % wide) with the picture next to it
        lines = (src.fine.T if axis == 0 else src.fine).astype(np.float32)
        lo, hi = unit[axis, 2] * FINE, (unit[axis, 2] + unit[axis, axis]) * FINE
        first, last = int(np.ceil(lo)) + 1, int(np.floor(hi)) - 1  # the picture's own, off its edges
        if last - first < 4:
            return False
        inside.append((first, last))
        for band, inner in zip(_bands_outside(unit, axis), (slice(first, first + 2), slice(last - 2, last))):
            if band.stop - band.start >= 1:
                bands.append((lines[band], lines[inner]))
    if len(bands) == 1:
        (c0, c1), (r0, r1) = np.clip(inside, 0, FINE - 1)
        ring = np.concatenate([src.fine[r0, c0:c1], src.fine[r1, c0:c1], src.fine[r0:r1, c0], src.fine[r0:r1, c1]])
        return _a_bar(*bands[0], ring.astype(np.float32), rules)
    if not bands or max(float(outside.std()) for outside, _ in bands) > rules.plain:
        return False
    across = np.abs(np.concatenate([outside.mean(axis=0) - edge.mean(axis=0) for outside, edge in bands]))
    return float(across.mean()) > rules.unlike and (across <= rules.plain).mean() <= 0.5


def _bands_outside(unit: np.ndarray, axis: int) -> tuple[slice, slice]:
    """The lines of a 64-px plane (across `axis`: 0 columns, 1 rows) that the window `unit` leaves before and
    after it, less the line next to it, which squashing mixed of margin and picture (either may be empty)."""
    lo, hi = unit[axis, 2] * FINE, (unit[axis, 2] + unit[axis, axis]) * FINE
    return slice(0, int(np.floor(lo)) - 1), slice(int(np.ceil(hi)) + 1, FINE)


def _a_bar(outside: np.ndarray, edge: np.ndarray, ring: np.ndarray, rules: Rules) -> bool:
    """Whether a band left on one side only (its lines `outside`, the picture's first lines next to it `edge`,
    the picture's outermost lines all round `ring`) is a bar added to the picture (a status bar, a caption
    strip: `rules.bar_plain` of it one level, its caption aside), unlike the picture's edge next to it at all
    but `rules.bar_same` of the positions along it, and of a level found at no more than that share of the
    picture's rim: a trim of studio white next to an object that reaches the new edge leaves a band of the
    white that surrounds the object elsewhere."""
    level = float(np.median(outside))
    plain = float((np.abs(outside - level) <= rules.plain).mean())
    across = np.abs(np.median(outside, axis=0) - edge.mean(axis=0))
    return (plain >= rules.bar_plain and float(across.mean()) > rules.unlike
            and (across <= rules.plain).mean() <= rules.bar_same
            and float((np.abs(ring - level) <= rules.plain).mean()) <= rules.bar_same)


def plain_frame(src: Frame, dst: Frame, unit: np.ndarray, rules: Rules = RULES) -> bool:
    """Whether the window `unit` leaves `src` in a plain frame too thin for bordered() at 64 px (a 3 % frame
    of a 300-px picture is under 2 px there): on `rules.frame_sides` sides or more, the rim lines of the
    margin (at the largest detail side, the last one, which mixes frame and picture, left out) vary along
    them by under `rules.frame_plain` of the contrast, where `dst`'s own edge lines vary by more than
    `rules.edge_varies`; with a margin on fewer sides, on each of them (a bar added to one side). A trim of
    studio white all round cuts white from white: its edge is as plain. With a margin on `rules.frame_sides`
    sides or more, a side also counts where the picture's edge varies only faintly (a star field, a night
    sky: `rules.edge_faint`) and the margin under `rules.frame_flatter` of that: a black frame round a dark
    picture is flatter than the darkest sky, whose stars and noise vary along every line."""
    depth = [int(np.floor(margin)) - 1 for margin in _rim_margins(src, unit)]  # rim lines of margin, per side
    sides = sum(lines >= 1 for lines in depth)
    all_round = sides >= rules.frame_sides
    framed = 0
    for k, lines in enumerate(depth):
        if lines >= 1:
            spread, edge = float(src.rim[k, 1, :lines].max()), float(dst.rim[k, 1, :2].min())  # along their lines
            framed += spread < rules.frame_plain and (
                edge > rules.edge_varies or (all_round and edge > rules.edge_faint and spread < rules.frame_flatter * edge))
    return sides > 0 and framed >= min(sides, rules.frame_sides)


def _rim_margins(src: Frame, unit: np.ndarray) -> list[float]:
    """How many rim lines (at the largest detail side) deep the window `unit` leaves a margin of `src` on each
    side: left, right, top, bottom, as the rim holds them."""
    side = src.detail[0][0]
    w, h = (side, side / src.aspect) if src.aspect >= 1 else (side * src.aspect, side)
    margins = (unit[0, 2], 1 - unit[0, 2] - unit[0, 0], unit[1, 2], 1 - unit[1, 2] - unit[1, 1])
    return [margin * n for margin, n in zip(margins, (w, w, h, h))]


def filled(src: Frame, dst: Frame, unit: np.ndarray, rules: Rules = RULES) -> bool:
    """Whether the window `unit` leaves `src` on the picture blurred and stretched (a social network's fill)
    rather than trimmed: where the margin varies along its lines (no plain band, which bordered() judges) at
    least two rim lines deep past the three next to the picture, its fine detail as a share of `dst`'s own
    edge lines' is under `rules.min_frame_detail` on some side or, with a margin all round, under
    `rules.min_surround_detail` over those sides together. A trim continues the picture, whose edge has about
    as much detail as what was cut off; a fill has next to none, though a smooth picture's edge has little.
    A fill of a smooth picture can vary along its lines less than `rules.frame_spread`: a margin all round that
    varies at all (`rules.fill_spread`) is a fill too where, on every side, the edge lines next to it have
    detail (`rules.fill_edge_detail`) and it under `rules.min_frame_detail` of theirs."""
    sides, varying, faint = 0, [], 0
    for k, margin in enumerate(_rim_margins(src, unit)):
        lines = min(int(np.floor(margin)) - 3, RIM)  # the band's kernel carries the picture's edge 3 lines out
        if lines >= 2:
            sides += 1
            detail, spread = (float(src.rim[k, n, :lines].mean()) for n in (0, 1))
            edge = float(dst.rim[k, 0, 1:4].mean())
            if spread > rules.frame_spread:
                varying.append((detail, edge))
            faint += (spread > rules.fill_spread and edge >= rules.fill_edge_detail
                      and detail < rules.min_frame_detail * edge)
    if any(detail < rules.min_frame_detail * max(edge, 1e-6) for detail, edge in varying) or faint == 4:
        return True
    return (sides == 4 and bool(varying)
            and sum(d for d, _ in varying) < rules.min_surround_detail * max(sum(e for _, e in varying), 1e-6))


def same_frame(a: Frame | None, b: Frame | None, rules: Rules = RULES) -> bool:
    """Whether a pair of copies is a duplicate (True) rather than a match; no signature: not a duplicate."""
    return difference(a, b, rules) is None


def difference(a: Frame | None, b: Frame | None, rules: Rules = RULES) -> str | None:
    """Why a pair of copies is a match rather than a duplicate, as a key of WHY (None: a duplicate).
    The cheap measures first, then the pictures as they are (passing loosely, also any trim that fits better,
    for a frame it leaves), else the search over trims (the better way first,
    then the other, unless the first found a frame: one picture a trim of the other either way round); for what
    still looks a duplicate or a trim slightly off, the alignment refined at 64 px (turned or mirrored: a match;
    a border added: a match; a trim: compared again, better aligned); last, the detail's direction (untrimmed
    pairs), the chroma, overlays and the 64-px agreement. A pair no trim explains is told by what its best trim
    fails, else by what the pictures as they are fail."""
    return _compared(a, b, rules)[0]


def framed_round(a: Frame | None, b: Frame | None) -> Frame | None:
    """The one of the two pictures a frame is round (a border, a bar, a fill), where the check finds one, also
    asked as explained() asks again (LENIENT): the picture the other's window lies in. A frame adds pixels, so
    the keeper of a group needs to know."""
    for rules in (RULES, *LENIENT):
        why, where = _compared(a, b, rules)
        if why == "frame":
            return where
    return None


def _compared(a: Frame | None, b: Frame | None, rules: Rules) -> tuple[str | None, Frame | None]:
    """difference(), and the picture the alignment that decided it lies in (a trim's larger picture)."""
    if a is None or b is None:
        return "unchecked", None
    if a.grid.tobytes() > b.grid.tobytes():  # one order, so the verdict does not depend on which came first
        a, b = b, a
    if a.plain and b.plain:  # nothing to align, sharpen or fit brightness by: their shape and colour only
        return _plain_difference(a, b, rules), None
    m = _cheap(a, b, rules)
    why = _failing(m, rules)
    if why:
        return why, None
    fit = _score(a, b)
    as_is = _fits(m, fit, False, rules) if m["aspect"] <= rules.max_stretch else "shape"
    if as_is is None:  # other shapes: only as a trim
        why = _judged(m, (fit, a, b, IDENTITY), a, b, rules)
        if why is None and fit.rms > rules.settled:  # a picture in a frame of a few per cent passes as it is too,
            #   loosely, when the refinement from the whole picture misses the window: a trim (less than TRIMMED
            #   of a side) that fits better is asked whether it leaves a frame
            for trim in aligned(a, b, rules.max_trim, rules.max_profile_error):
                if _trims(trim[3]) and trim[0].rms < fit.rms and _judged(m, trim, a, b, rules) == "frame":
                    return "frame", trim[1]
        return why, a
    if fit.rms > rules.search_above:  # too different for a trim to explain: not worth the search
        return as_is, None
    first = None
    for trim in aligned(a, b, rules.max_trim, rules.max_profile_error):  # the better way first
        why = _judged(m, trim, a, b, rules)
        if why is None or why == "frame":
            return why, trim[1]
        first = first or why
    return first or as_is, None


def _plain_difference(a: Frame, b: Frame, rules: Rules) -> str | None:
    """difference() of two solid colours: another shape, else another colour (rules.plain_colour)."""
    if abs(float(np.log(a.aspect / b.aspect))) > rules.max_aspect_change:
        return "shape"
    shift = np.abs(a.grid.mean(axis=(0, 1)) - b.grid.mean(axis=(0, 1))).max()
    return "colour" if shift > rules.plain_colour else None


def explained(a: Frame | None, b: Frame | None) -> str | None:
    """difference(), for the person who looks at the pair. A measure of the whole picture that fails first (its
    colours, contrast, sharpness or tones: WHOLE_PICTURE), or its shape, can be what a border, a crop or a turn
    did to it, so the pair is asked again without those measures, with every trim tried, then wider trims too
    (LENIENT: a border of 15 %). A frame or a turn found then is the reason; so is another shape where a
    whole-picture measure failed, and for a softer picture a picture that does not fit at all (a crop, enlarged,
    is softer). Last, pictures whose colour grids do not fit ("content") but whose 64-px gray pictures agree
    differ in colour."""
    why = difference(a, b)
    for rules in LENIENT if why in (*WHOLE_PICTURE, "shape") else ():
        other = difference(a, b, rules)
        if (other in ("frame", "turned") or (why != "shape" and other == "shape")
                or (why, other) == ("sharpness", "content")):
            return other
    if why == "content":
        local, rms = _differences(a, b, None)[0]
        if local <= RULES.max_overlay and rms <= RULES.max_fine_residual:
            return "colour"
    return why


def _judged(m: dict, alignment: tuple[Fit, Frame, Frame, np.ndarray], a: Frame, b: Frame,
            rules: Rules) -> str | None:
    """difference() for one alignment of the pair (fit, larger picture, trim, window); "frame" where what the
    window leaves is a frame (framed()): then the pair is a match whichever way round it is tried next (a copy in
    a blurred fill, squashed into a window of the picture, can pass for a trim of it)."""
    fit, src, dst, unit = alignment
    why = _fits(m, fit, src is b, rules)
    if why and fit.rms > rules.refine_below:  # too far off to be a trim
        return why
    fine = [(src, dst, unit), None]  # the fine comparison's alignments: the grids', else its own trim fit (the
    #   grids' first: a settled pair needs no warp, and most pass there)
    soften = 0.0
    if unit is not IDENTITY or fit.rms > rules.settled:  # closer as they are: no turn or mirror, nothing to refine
        better = refined(src, dst, unit)
        if better is not None and (turn(better) > rules.max_turn or rotation(better) > rules.max_rotation):
            return "turned"
        within = better is not None and _within(better, rules.max_trim)
        if framed(src, dst, better if within else unit, rules):  # not refined, or past max_trim: the search's own
            return "frame"  # window is judged
        if unit is not IDENTITY:
            # again without dst's outer lines: squashed to 64 px, a frame of a few per cent mixes into the lines of
            #   the picture next to it, and a fit over those lines can pull the window off the frame into the
            #   picture (a 4 % black frame round a landscape refined to 0.91 x 0.88 of the framed picture, not
            #   0.96 x 0.93: what is left outside it is then no plain band)
            edge_free = refined(src, dst, unit, FRAME_FIT_MARGIN)
            if (edge_free is not None and _within(edge_free, rules.max_trim) and framed(src, dst, edge_free, rules)
                    and not _own_plain_edges(src, dst, edge_free, rules)):
                return "frame"
        if within:
            fit = min(fit, _score(src, dst, better), key=lambda f: f.rms)
            fine, unit = [(src, dst, better)], better
            soften = TRIM_SOFTEN if _trims(better) else 0.0
    if why := _fits(m, fit, src is b, rules):
        return why
    if not stretch(src, dst, unit) <= rules.max_stretch:
        return "shape"
    if not _same_direction(m, unit, rules):
        return "sharpness"
    if not chroma_agrees(src, dst, unit, rules):
        return "colour"
    return None if _fine_agrees(a, b, fine, rules, soften) else "overlay"


def framed(src: Frame, dst: Frame, unit: np.ndarray, rules: Rules = RULES) -> bool:
    """Whether what the window `unit` leaves of `src` is a frame round `dst`: a plain border or bar, a thin plain
    frame, or a blurred fill."""
    return bordered(src, unit, rules) or plain_frame(src, dst, unit, rules) or filled(src, dst, unit, rules)


def _own_plain_edges(src: Frame, dst: Frame, unit: np.ndarray, rules: Rules = RULES) -> bool:
    """Whether, on every side where the window `unit` leaves `src` a band (as bordered() reads them, at 64 px),
    `dst`'s own outer lines there are plain and of the margin's level (within `rules.plain` and `rules.unlike`):
    the margin then continues what `dst` has at its edge (a letterboxed photo trimmed, its bars cut through),
    which a frame round `dst` does not. A window refined without `dst`'s outer lines can be a line off, which
    the frame tests alone, reading the lines of `src` inside the window, take for a bar."""
    sides = 0
    for axis in (0, 1):  # 0: x (columns), 1: y (rows)
        lines = (src.fine.T if axis == 0 else src.fine).astype(np.float32)
        own = (dst.fine.T if axis == 0 else dst.fine).astype(np.float32)
        for band, edge in zip(_bands_outside(unit, axis), (own[:2], own[-2:])):
            if band.stop - band.start < 1:
                continue
            sides += 1
            if float(edge.std()) > rules.plain or abs(float(np.median(edge)) - float(np.median(lines[band]))) > rules.unlike:
                return False
    return sides > 0


def stretch(src: Frame, dst: Frame, unit: np.ndarray) -> float:
    """|log| of how much the window `unit` of `src` must be stretched to `dst`'s aspect: 0 for a trim, which
    cuts the picture without changing its shape; a picture resized to another aspect ratio keeps all of it."""
    return abs(float(np.log(src.aspect * unit[0, 0] / unit[1, 1] / dst.aspect)))


def _fits(m: dict, fit: Fit, flipped: bool, rules: Rules) -> str | None:
    """What the cheap measures `m` with a fit of the grids (of b to a if `flipped`) fail first (_failing), if any."""
    return _failing({**m, **fit._replace(gain=1 / max(fit.gain, 1e-6) if flipped else fit.gain)._asdict()}, rules)
