"""The signature the same-frame check keeps per image (Frame), and how it is made (signature()).

The same-frame check: two copies of a picture are a **duplicate** (merged without a look) only if they show it
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
- the whole picture squashed to 64x64 in chroma: a mark in a colour of its background's gray (an orange date
  stamp on a lawn) a few per cent high, which the grid's cells of 1/32 of a side mix with what is round it;
- the whole picture squashed to 128x128 in gray, for pictures that large: the same look for overlays, finer
  (a watermark's strokes, a handle or a date stamp a few per cent high), and to 256x256 for pictures of 448 px
  or more (the same marks on a photo of a thousand pixels, a pixel or two thick at 128);
- the aspect ratio of the original (a crop, a border or a turn changes it);
- the colourfulness (tints and filters change it while the gray levels stay), and the chroma itself: aligned,
  one picture's chroma explains the other's at about the same gain (grayscale and saturation edits scale it,
  hue edits turn it, and the turn is measured too: a gain near 1 can hide one; compression adds noise that
  does not correlate, so the faint colour of a nearly gray picture, which heavy JPEG changes by more than its
  magnitude, stays comparable);
- the fine detail at long sides from 256 down to 64 px (each capped at the picture's own): a strong blur
  removes most of it, re-encoding and resizing do not. A pair compares it at the largest side both were
  measured at, and from what the softer lost there estimates its blur in its own pixels: a 1024-px picture
  blurred by 3 px loses a little of it at 256 px, which is 3 px at its own size. Pictures of 362 to 2,047 px
  have it from 512 down to 304 px too, from a decode of their own: a blur of 2 px on a 1,024-px photo (a
  7-px box blur or median) is half a pixel at 256, under the measure's noise, and a pixel at 512;
- the direction of that detail at each side (how much it varies across columns against across rows, and
  along one diagonal against the other): a blur along one direction (a camera's shake, motion) takes the
  detail across it and leaves the rest, which a measure of the detail alone half misses;
- the rim: per side, the lines from the edge in, each one's detail and the spread of its levels: what a
  trim cuts off is picture, a frame round the picture is plain or, filled with the picture blurred, has no
  detail;
- the noise floor at each detail side: that band-passed detail in the flattest blocks of the picture. Noise
  and film grain raise it everywhere, even in a clear sky, and halve it with the side; a picture's own
  texture keeps it at every side, sharpening multiplies the little there is, and JPEG and palette dithering
  leave the flattest blocks flat or nearly so;
- the tones' peaks: how much of each channel's histogram sits in narrow peaks (posterisation leaves a few
  levels where the picture had a continuum; a brightness or contrast change moves and stretches the
  histogram, keeping its shape).
"""

from __future__ import annotations

import functools
import struct
from dataclasses import dataclass, field
from typing import Callable

import cv2
import numpy as np
from PIL import Image

from .rules import RULES

GRID = 32
FINE = 64  # the gray picture kept for overlays (thin text vanishes at 32 px)
FINER = 128  # ... and at twice that, for pictures that large: a watermark's strokes or a caption thin at 64 px
FINEST = 256  # ... and twice that again: such marks on a large photo ...
FINEST_FROM = 448  # ... kept for pictures at least this long: nearer its own size a picture's slight blur or
#   JPEG's blocks stand out of the 256-px picture's cells as much as a mark
SHARP_SIDES = tuple(round(256 / 2 ** (k / 4)) for k in range(9))  # long sides, 256 to 64 in steps of 2^(1/4),
#   at which the fine detail is measured (each capped at the picture's): a thumbnail is compared close to its
#   own size, where a blur of the larger picture shrinks least
SHARP_SIDE = SHARP_SIDES[0]  # the decode must reach this long side for the sharpness to be measured (a 4 MP
#   JPEG decodes at 1/8 of its size, from its DC coefficients alone: a fraction of the cost of 1/4)
HIGH_SIDES = tuple(round(512 / 2 ** (k / 4)) for k in range(4))  # 512 to 304: the fine detail measured again
#   above SHARP_SIDE, for pictures of HIGH_FROM px or more: a blur of 2 px on a 1,024-px photo (a 7-px box
#   blur, a 7-px median) is half a pixel at 256, where it hardly shows
HIGH_SIDE = HIGH_SIDES[0]  # ... from a decode of its own that reaches this long side, where the signature's is
#   smaller ...
HIGH_FROM = HIGH_SIDES[2]  # ... for pictures at least this long (smaller ones are measured at 256 or whole)
HIGH_BELOW = 3072  # ... and shorter than this. A JPEG of 2,048 to 3,071 px decodes to 256-383 px at an eighth of
#   its size, which holds little of the ladder above 256 (a 4 MP photo's 288 px: a Gaussian blur of 3 px is 0.4 px
#   there, under the measure's noise), so once in a pair it is decoded again at a quarter (576 px for 4 MP, about
#   1.2 times the first decode's cost). From 3,072 px the eighth reaches 384 px, and the detail above 256 is
#   measured on the signature's own decode, as far as it reaches: a blur shows from about 2.4 px per 1,000 px of
#   the long side at 256 alone, 1.2 at 4,032 px measured at 504 (docs/verification.md)
DETAIL_BAND = (0.8, 1.6)  # the fine detail: a difference of Gaussians (sigmas in pixels at the measuring side);
#   measured two sides down (x 0.71), it is the band of sigmas 1.13 and 2.26 at the measuring side
SOFTEN = 0.8  # Gaussian sigma, in grid cells, applied to both grids before they are compared
SHARPEST = 0.6  # the planes' own softening (pixels), that of a picture of 64 px or more
PEAK_SIGMAS = (3.0, 12.0)  # a histogram's tone peaks: what smoothing it by the first (levels) keeps and by the
#   second removes; narrower than the first is compression's noise, a stretch's comb, a 256-colour palette's
#   closely spaced levels (PNG-8, GIF) and heavy JPEG's quantised blocks; wider is the picture's. Posterising
#   leaves a few levels 16 or more apart, which stand out at these widths
PEAK_IGNORED = (8, 4)  # ... ignoring the levels this near black and white (clipped) and this near the most
#   common level (a plain background: one peak, which a brightness change clips or frees)
NOISE_BLOCK = 8  # pixels: the blocks (at the measuring side) the band is averaged over ...
NOISE_FLATTEST = 10  # ... and the percentile of them that is the floor: the flattest tenth of the picture
PLAIN = 1.0  # a picture whose gray levels vary by less than this (standard deviation, 0..255) is a solid colour
RIM = 28  # lines along each side, from the edge in, whose detail and variation are kept (11 % of a 256-px side)
KEY = "frame32x3v15"  # stored beside the encoders' vectors, keyed by content hash and this name (v10: pictures with
#   an ICC profile of another colour space are signed in sRGB, encoder/colour.py; v11: pictures of HIGH_BELOW px
#   or more get the detail above SHARP_SIDE that their decode holds; v12: the noise floor; v13: signed with the
#   256-px gray picture, kept apart under FINEST_KEY; v14: the 64-px chroma; v15: pictures of 2,048 to 3,071 px
#   measured above 256 px on a decode of their own)
FINEST_KEY = "gray256v1"  # the 256-px gray picture (Frame.finest), kept beside its signature and loaded only for the
#   pairs whose 128-px test asks for it (compare.py _gray_agrees): 64 KB, which every loaded signature would hold


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
        """The softened values in order: from `order`, which the overlay test asks of every plane it sorts."""
        return self.soft.reshape(-1)[self.order]

    @functools.cached_property
    def edges(self) -> np.ndarray:
        return _gradient(self.soft)

    @functools.cached_property
    def order(self) -> np.ndarray:
        """The order that sorts the softened values, for histogram matching onto another picture's tones
        (_matched)."""
        return rank_order(self.soft)

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
    high: tuple[tuple[int, float], ...] = ()  # per HIGH_SIDES over SHARP_SIDE: (long side, fine detail there)
    noise: tuple[float, ...] = ()  # per detail side: noise_floor() there (none: stored as 0, no noise seen)
    finest: np.ndarray | None = None  # (256, 256) uint8: the whole picture squashed, gray (FINEST), for pictures
    #   of FINEST_FROM px or more; a signature loaded from storage has it fetched instead, when a pair asks
    chroma: np.ndarray | None = None  # (64, 64, 2) uint8: the whole picture squashed, chroma (Cr, Cb); None: stored
    #   as no colour (128), a gray picture's
    fetch_finest: Callable[[], bytes | None] | None = field(default=None, compare=False, repr=False)

    def sides(self, long_side: float) -> tuple[float, float]:
        """The picture's width and height at this long side, its original's aspect ratio kept."""
        return (long_side, long_side / self.aspect) if self.aspect >= 1 else (long_side * self.aspect, long_side)

    @functools.cached_property
    def planes(self) -> tuple[Plane, Plane, Plane]:
        """Gray at 64 px, and chroma (Cr, Cb) at 32 from the grid: JPEG keeps colour at half the resolution
        of brightness, and a caption in a colour of its background's gray shows only there."""
        return (Plane(self.fine, SHARPEST), *_chroma_planes(self.grid))

    @functools.cached_property
    def chroma_planes(self) -> tuple[Plane, Plane] | None:
        """Cr and Cb at 64 px, as the chroma mark test compares them (None: a signature made without them)."""
        return None if self.chroma is None else tuple(Plane(self.chroma[..., c], SHARPEST) for c in (0, 1))

    @functools.cached_property
    def finer_plane(self) -> Plane | None:
        return None if self.finer is None else Plane(self.finer, SHARPEST)

    @functools.cached_property
    def finest_plane(self) -> Plane | None:
        """The 256-px gray picture, fetched the first time a pair asks for it where the signature was loaded."""
        pixels = self.finest
        if pixels is None and self.fetch_finest is not None:
            pixels = _square(self.fetch_finest() or b"", FINEST)
        return None if pixels is None else Plane(pixels, SHARPEST)

    @property
    def fine_soft(self) -> np.ndarray:
        return self.planes[0].soft

    @functools.cached_property
    def colourfulness(self) -> float:
        return colourfulness(self.grid)

    @functools.cached_property
    def tones(self) -> np.ndarray:
        """Each channel's mean and spread over the grid (0..255): what a brightness, contrast or colour
        adjustment moves, and re-encoding, resizing and conversion keep (the keeper's choice among copies
        sharing a frame, pipeline/groups.py)."""
        return np.concatenate([self.grid.mean(axis=(0, 1)), self.grid.std(axis=(0, 1))])

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
                + struct.pack(f"<fiifi{'iffff' * len(self.detail)}{'if' * len(self.high)}", self.aspect,
                              self.long_side, len(self.detail), self.peaks, len(self.high),
                              *(x for (side, level), way, noise in zip(self.detail, self.direction,
                                                                        self.noise or (0.0,) * len(self.detail))
                                for x in (side, level, *way, noise)),
                              *(x for side_level in self.high for x in side_level))
                + self.rim.astype(np.float16).tobytes()
                + (np.full((FINE, FINE, 2), 128, np.uint8) if self.chroma is None else self.chroma).tobytes()
                + (b"" if self.finer is None else self.finer.tobytes()))

    def finest_bytes(self) -> bytes | None:
        """The 256-px gray picture as stored under FINEST_KEY (None: the picture is too small to have one)."""
        return None if self.finest is None else self.finest.tobytes()

    @classmethod
    def from_bytes(cls, raw: bytes, fetch_finest: Callable[[], bytes | None] | None = None) -> "Frame":
        """A stored signature; `fetch_finest` reads its 256-px gray picture (finest_bytes()) when a pair asks."""
        n, m = GRID * GRID * 3, FINE * FINE
        aspect, long_side, count, peaks, high = struct.unpack("<fiifi", raw[n + m:n + m + 20])
        end = n + m + 20 + 20 * count + 8 * high
        rim_end = end + 4 * 2 * RIM * 2  # float16
        chroma_end = rim_end + FINE * FINE * 2
        values = struct.unpack(f"<{'iffff' * count}", raw[n + m + 20:n + m + 20 + 20 * count])
        highs = struct.unpack(f"<{'if' * high}", raw[n + m + 20 + 20 * count:end])
        return cls(np.frombuffer(raw[:n], np.uint8).reshape(GRID, GRID, 3).astype(np.float32), aspect,
                   tuple(zip(values[::5], values[1::5])),
                   np.frombuffer(raw[n:n + m], np.uint8).reshape(FINE, FINE), long_side,
                   tuple(zip(values[2::5], values[3::5])),
                   np.frombuffer(raw[end:rim_end], np.float16).astype(np.float32).reshape(4, 2, RIM), peaks,
                   _square(raw[chroma_end:], FINER), tuple(zip(highs[::2], highs[1::2])), values[4::5],
                   chroma=np.frombuffer(raw[rim_end:chroma_end], np.uint8).reshape(FINE, FINE, 2),
                   fetch_finest=fetch_finest)


def _square(raw: bytes, side: int) -> np.ndarray | None:
    """A stored gray picture of side x side, or None where the signature holds none."""
    return np.frombuffer(raw, np.uint8).reshape(side, side) if raw else None


def _chroma_planes(grid: np.ndarray) -> tuple[Plane, Plane]:
    """A grid's Cr and Cb planes, as the overlay test compares them."""
    ycc = cv2.cvtColor(np.clip(grid, 0, 255).astype(np.uint8), cv2.COLOR_RGB2YCrCb)
    return Plane(ycc[..., 1], SHARPEST), Plane(ycc[..., 2], SHARPEST)


def signature(im: Image.Image, width: int, height: int, high: Image.Image | np.ndarray | None = None) -> Frame:
    """The signature of a decoded RGB picture whose original is width x height (decoded at least SHARP_SIDE
    on its long side, or whole), with the detail above SHARP_SIDE from `high`, the same picture decoded at least
    HIGH_SIDE on its long side, or whole (in RGB, or its gray picture), or for pictures of HIGH_BELOW px or more
    `im` itself (needed for pictures of HIGH_FROM px or more: needs_high())."""
    rgb = np.asarray(im)
    small = cv2.resize(rgb, (FINE, FINE), interpolation=cv2.INTER_AREA)  # one pass over the decode for both
    grid = cv2.resize(small, (GRID, GRID), interpolation=cv2.INTER_AREA).astype(np.float32)
    fine = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
    chroma = np.ascontiguousarray(cv2.cvtColor(small, cv2.COLOR_RGB2YCrCb)[..., 1:])
    gray = whole = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    finer = cv2.resize(gray, (FINER, FINER), interpolation=cv2.INTER_AREA)
    finest = cv2.resize(gray, (FINEST, FINEST), interpolation=cv2.INTER_AREA) if max(width, height) >= FINEST_FROM else None
    detail, direction, noise, rim = [], [], [], None
    for side in sorted({min(s, max(width, height)) for s in SHARP_SIDES}, reverse=True):
        gray = _shrunk(gray, side)  # each side from the last one: cheap
        level, *way, band = _detail(gray)
        detail.append((side, level))
        direction.append(tuple(way))
        noise.append(noise_floor(band))
        if rim is None:
            rim = _rim(gray, band)
    return Frame(grid, width / max(height, 1), tuple(detail), fine, max(width, height), tuple(direction), rim,
                 tone_peaks(rgb), finer,
                 high_detail(whole if high is im else gray_of(high), max(width, height))
                 if high is not None and needs_high(width, height) else (), tuple(noise), finest, chroma)


def needs_high(width: int, height: int) -> bool:
    """Whether a picture this large gets the detail above SHARP_SIDE (signature()'s `high`)."""
    return max(width, height) >= HIGH_FROM


def decodes_high(width: int, height: int) -> bool:
    """Whether that detail is measured on a decode of its own (HIGH_BELOW), where the signature's is smaller."""
    return HIGH_FROM <= max(width, height) < HIGH_BELOW


def gray_of(im: Image.Image | np.ndarray) -> np.ndarray:
    """The gray picture of an RGB decode (a gray one as it is): the detail is measured on it."""
    pixels = np.asarray(im)
    return pixels if pixels.ndim == 2 else cv2.cvtColor(pixels, cv2.COLOR_RGB2GRAY)


def high_detail(gray: np.ndarray, long_side: int) -> tuple[tuple[int, float], ...]:
    """(side, fine detail) at each of HIGH_SIDES over SHARP_SIDE, capped at the picture's own `long_side` and at
    the decode's, of a decode (`gray`) reaching HIGH_SIDE, or whole, or as far as it reaches: the ladder of
    signature() continued upwards."""
    out = []
    for side in sorted({min(s, long_side, max(gray.shape)) for s in HIGH_SIDES}, reverse=True):
        if side > SHARP_SIDE:
            gray = _shrunk(gray, side)
            out.append((side, _level(gray)[0]))
    return tuple(out)


def noise_floor(band: np.ndarray) -> float:
    """The noise in the flattest blocks of a picture, from its band-passed detail (_detail()'s band): its mean
    absolute value over blocks of NOISE_BLOCK pixels, at their NOISE_FLATTEST percentile, in units of the sigma
    of white noise that gives as much (0 for a picture too small to hold two blocks a side). The band lies
    below the finest levels, where a picture's floor is its resampling's (a Lanczos thumbnail of a grainy
    photo keeps none, the photo halved by 2x2 means much); texture raises it too, but only where the whole
    picture is textured."""
    h, w = (n // NOISE_BLOCK for n in band.shape)
    if min(h, w) < 2:
        return 0.0
    blocks = cv2.resize(np.abs(band[:h * NOISE_BLOCK, :w * NOISE_BLOCK]), (w, h), interpolation=cv2.INTER_AREA).ravel()
    k = round((blocks.size - 1) * NOISE_FLATTEST / 100)
    return float(np.partition(blocks, k)[k]) / BAND_NOISE


def tone_peaks(rgb: np.ndarray) -> float:
    """The share of each channel's histogram (of an RGB uint8 picture) in peaks narrower than PEAK_SIGMAS[1],
    averaged over channels: half the absolute difference of the histogram smoothed by the two sigmas (posterising
    raises it). Clipped levels and the most common level are left out (PEAK_IGNORED): a brightness change clips
    a plain background or frees it, which moves that one peak."""
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
BAND_NOISE = float(np.sqrt(2 / np.pi) * np.linalg.norm(np.pad(
    np.outer(*BAND_KERNELS[0]), (len(BAND_KERNELS[1][0]) - len(BAND_KERNELS[0][0])) // 2) - np.outer(*BAND_KERNELS[1])))
#   the band's mean absolute value for white noise of sigma 1: the floor's unit
STEPS = (((slice(None), slice(1, None)), (slice(None), slice(None, -1))),  # across columns
         ((slice(1, None),), (slice(None, -1),)),  # across rows
         ((slice(1, None), slice(1, None)), (slice(None, -1), slice(None, -1))),  # along a diagonal
         ((slice(1, None), slice(None, -1)), (slice(None, -1), slice(1, None))))  # along the other one


def _detail(g: np.ndarray) -> tuple[float, float, float, np.ndarray]:
    """Mean band-passed detail (DETAIL_BAND) of a gray uint8 picture per unit of contrast, what a blur removes
    first, and its direction: the logs of how much it varies across columns over across rows, and along one
    diagonal over the other (0, 0 for a picture with no preferred direction: a blur along one direction lowers
    one of each pair), and the band itself."""
    level, band = _level(g)
    x, y, d, e = (cv2.norm(band[u], band[v], cv2.NORM_L1) + 1e-3 for u, v in STEPS)
    return level, float(np.log(x / y)), float(np.log(d / e)), band


def _level(g: np.ndarray) -> tuple[float, np.ndarray]:
    """_detail()'s mean band-passed detail per unit of contrast, and the band."""
    band = cv2.sepFilter2D(g, cv2.CV_32F, *BAND_KERNELS[0]) - cv2.sepFilter2D(g, cv2.CV_32F, *BAND_KERNELS[1])
    return cv2.norm(band, cv2.NORM_L1) / g.size / (float(cv2.meanStdDev(g)[1][0, 0]) + 1.0), band


def _axis_windows(max_trim: float) -> np.ndarray:
    """Candidate (keep, offset fraction) windows along one axis: the whole, then trims in steps of 1 %."""
    keeps = np.arange(1.0, 1 - max_trim - 1e-6, -0.01)
    offsets = np.linspace(0, 1, 9)
    return np.array([(k, f) for k in keeps for f in (offsets if k < 1 else [0.0])], np.float32)


TRIM_WINDOWS = _axis_windows(RULES.max_trim)  # the overlay test's, sampled once per picture


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


def _soft(grid: np.ndarray, more: float = 0.0) -> np.ndarray:
    """Both grids are softened before they are compared (by `more` cells more over a trim): what a trim's
    imperfect alignment leaves is fine detail, what an edit leaves is not."""
    return cv2.GaussianBlur(grid, (0, 0), float(np.hypot(SOFTEN, more)))


def _chroma(grid: np.ndarray) -> np.ndarray:
    return grid - (_channel_sum(grid) / 3)[..., None]


def _channel_sum(grid: np.ndarray) -> np.ndarray:
    """The sum over the last axis (a grid's three channels), added in the order np.sum adds them: the same values
    without a reduction's overhead, which on arrays this small is most of its cost."""
    return grid[..., 0] + grid[..., 1] + grid[..., 2]


def _channel_max(grid: np.ndarray) -> np.ndarray:
    """The largest of the last axis's three channels, as _channel_sum() adds them: numpy's reduction over a last
    axis 3 long takes ten times as long."""
    return np.maximum(np.maximum(grid[..., 0], grid[..., 1]), grid[..., 2])


def _channel_min(grid: np.ndarray) -> np.ndarray:
    return np.minimum(np.minimum(grid[..., 0], grid[..., 1]), grid[..., 2])


def rank_order(values: np.ndarray) -> np.ndarray:
    """np.argsort(values, axis=None, kind="stable") of float32 values, at the default sort's speed: each value's
    bits, ordered as the numbers are, above its position in one 64-bit key, so that ties keep their order
    (numpy's default argsort orders them differently on different CPUs) and one sort of unique keys ranks them
    (a stable argsort of 128 x 128 smooth values takes twice as long)."""
    bits = (np.asarray(values, np.float32).reshape(-1) + np.float32(0)).view(np.uint32)  # + 0: -0.0 ties with
    #   0.0, as the numbers do
    ordered = np.where(bits >> 31, ~bits, bits | np.uint32(1 << 31)).astype(np.uint64)
    keys = (ordered << np.uint64(32)) | np.arange(bits.size, dtype=np.uint64)
    return (np.sort(keys) & np.uint64(0xFFFFFFFF)).astype(np.intp)


def _gradient(im: np.ndarray) -> np.ndarray:
    return np.hypot(cv2.Sobel(im, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(im, cv2.CV_32F, 0, 1, ksize=3)) / 8


def colourfulness(grid: np.ndarray) -> float:
    return float(np.abs(_chroma(grid)).mean())
