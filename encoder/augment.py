"""Edits that make a near-duplicate: the positives of training and the copies of validation.

Two strengths, as users see them: `benign` (what re-uploading, re-encoding and thumbnailing do) and `edit`
(the same picture, visibly changed: crops, flips, rotations, colour, overlays, borders, blur). Ranges are
wider than any one benchmark's so the encoder learns the family, not the parameters.
"""
from __future__ import annotations

import io
import random
import string

from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageFont, ImageOps


def _colour(r: random.Random) -> tuple[int, int, int]:
    return tuple(r.randint(0, 255) for _ in range(3))


def jpeg(im: Image.Image, quality: int) -> Image.Image:
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


def scale(im: Image.Image, s: float) -> Image.Image:
    w, h = im.size
    return im.resize((max(8, int(w * s)), max(8, int(h * s))), Image.BICUBIC)


def crop(im: Image.Image, keep: float, r: random.Random, aspect_jitter: float = 0.15) -> Image.Image:
    w, h = im.size
    kw = min(1.0, keep * r.uniform(1 - aspect_jitter, 1 + aspect_jitter))
    kh = min(1.0, keep * r.uniform(1 - aspect_jitter, 1 + aspect_jitter))
    cw, ch = max(8, int(w * kw)), max(8, int(h * kh))
    x, y = r.randint(0, w - cw), r.randint(0, h - ch)
    return im.crop((x, y, x + cw, y + ch))


def text(im: Image.Image, r: random.Random) -> Image.Image:
    im = im.copy()
    d = ImageDraw.Draw(im)
    size = max(8, im.size[1] // r.randint(4, 14))
    try:
        font = ImageFont.load_default(size=size)
    except TypeError:
        font = ImageFont.load_default()
    words = "".join(r.choice(string.ascii_letters + string.digits + " ©#") for _ in range(r.randint(3, 16)))
    for _ in range(r.randint(1, 2)):
        d.text((r.randint(0, im.size[0] * 2 // 3), r.randint(0, max(0, im.size[1] - size))), words,
               fill=_colour(r), font=font)
    return im


def patch(im: Image.Image, r: random.Random) -> Image.Image:
    im = im.copy()
    w, h = im.size
    pw, ph = max(2, int(w * r.uniform(0.08, 0.35))), max(2, int(h * r.uniform(0.08, 0.35)))
    p = Image.new("RGB", (pw, ph), _colour(r))
    ImageDraw.Draw(p).ellipse((pw // 6, ph // 6, 5 * pw // 6, 5 * ph // 6), fill=_colour(r))
    im.paste(p, (r.randint(0, w - pw), r.randint(0, h - ph)))
    return im


def border(im: Image.Image, r: random.Random) -> Image.Image:
    pad = max(1, int(min(im.size) * r.uniform(0.03, 0.2)))
    if r.random() < 0.3:  # letterbox: padding on two sides only
        w, h = im.size
        side = (0, pad, 0, pad) if r.random() < 0.5 else (pad, 0, pad, 0)
        return ImageOps.expand(im, border=side, fill=_colour(r))
    return ImageOps.expand(im, border=pad, fill=_colour(r))


def rotate(im: Image.Image, r: random.Random) -> Image.Image:
    return im.rotate(r.choice([-1, 1]) * r.uniform(2, 20), Image.BICUBIC, expand=True, fillcolor=_colour(r) if r.random() < 0.3 else None)


BENIGN = [
    lambda im, r: jpeg(im, r.randint(15, 95)),
    lambda im, r: scale(im, r.uniform(0.25, 0.8)),
    lambda im, r: scale(im, r.uniform(1.1, 1.8)),
    lambda im, r: crop(im, r.uniform(0.88, 0.99), r, 0.03),
    lambda im, r: ImageEnhance.Brightness(im).enhance(r.uniform(0.75, 1.25)),
    lambda im, r: ImageEnhance.Contrast(im).enhance(r.uniform(0.75, 1.25)),
    lambda im, r: im.filter(ImageFilter.GaussianBlur(r.uniform(0.3, 1.5))),
    lambda im, r: im.filter(ImageFilter.UnsharpMask(2, r.randint(50, 150))),
]

def strong_crop(im: Image.Image, r: random.Random) -> Image.Image:
    return crop(im, r.uniform(0.45, 0.85), r)


EDIT = [
    strong_crop,
    lambda im, r: ImageOps.mirror(im),
    lambda im, r: ImageOps.flip(im),
    rotate,
    lambda im, r: im.transpose(r.choice([Image.ROTATE_90, Image.ROTATE_180, Image.ROTATE_270])),
    lambda im, r: ImageOps.grayscale(im).convert("RGB"),
    lambda im, r: ImageEnhance.Color(im).enhance(r.choice([r.uniform(0.0, 0.5), r.uniform(1.5, 2.5)])),
    text,
    patch,
    border,
    lambda im, r: im.filter(ImageFilter.GaussianBlur(r.uniform(2.0, 5.0))),
    lambda im, r: ImageEnhance.Brightness(im).enhance(r.choice([r.uniform(0.5, 0.75), r.uniform(1.25, 1.6)])),
]


def benign(im: Image.Image, r: random.Random, n: int | None = None) -> Image.Image:
    for op in r.sample(BENIGN, n or r.randint(1, 2)):
        im = op(im, r)
    return im


def edit(im: Image.Image, r: random.Random, n: int | None = None) -> Image.Image:
    """One to three edits, then the benign damage that travelling copies also pick up."""
    for op in r.sample(EDIT, n or r.choice([1, 1, 2, 2, 3])):
        im = op(im, r)
    if r.random() < 0.7:
        im = benign(im, r, 1)
    return im


GEOMETRIC = [strong_crop, rotate, border]


def recolour(im: Image.Image, r: random.Random) -> Image.Image:
    """Grayscale, or saturation anywhere from washed out to vivid."""
    if r.random() < 0.4:
        return ImageOps.grayscale(im).convert("RGB")
    return ImageEnhance.Color(im).enhance(r.uniform(0.0, 2.5))


def positive(im: Image.Image, r: random.Random, geometric: float = 0.0, colour: float = 0.0) -> Image.Image:
    """A training positive: mostly edits, some benign copies, always ending as a re-encoded JPEG.
    `geometric`: the chance of a crop, tilt or border first, the edits a CNN at 64 px learns last.
    `colour`: the chance of a grayscale or saturation change on top, where colour cues mislead it."""
    if r.random() < geometric:
        im = r.choice(GEOMETRIC)(im, r)
    im = edit(im, r) if r.random() < 0.75 else benign(im, r)
    if r.random() < colour:
        im = recolour(im, r)
    return jpeg(im, r.randint(30, 95))
