"""Edits that make a near-duplicate: the positives of training and the copies of validation.

Two strengths, as users see them: `benign` (what re-uploading, re-encoding and thumbnailing do) and `edit`
(the same picture, visibly changed). Edits are a grammar: chains of one to three drawn from a broad pool of
what people do to pictures (geometry, colour filters, overlays, the picture placed inside a larger one,
degradations), each with wide ranges, so the encoder learns the families, not one benchmark's parameters.
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
    """A tilt, mostly small, sometimes any angle; the corners filled, or cropped away."""
    angle = r.choice([-1, 1]) * (r.uniform(2, 20) if r.random() < 0.7 else r.uniform(20, 180))
    turned = im.rotate(angle, Image.BICUBIC, expand=True, fillcolor=_colour(r) if r.random() < 0.3 else None)
    return crop(turned, r.uniform(0.6, 0.8), r, 0.0) if r.random() < 0.3 else turned


def perspective(im: Image.Image, r: random.Random) -> Image.Image:
    """A photo of the picture taken at an angle: each corner moved by up to a fifth of the side."""
    w, h = im.size
    j = r.uniform(0.05, 0.2)
    quad = [c + r.uniform(-j, j) * s for corner in ((0, 0), (0, h), (w, h), (w, 0))
            for c, s in zip(corner, (w, h))]
    return im.transform((w, h), Image.QUAD, quad, Image.BICUBIC, fillcolor=_colour(r))


def squash(im: Image.Image, r: random.Random) -> Image.Image:
    """Resized to another aspect ratio (a thumbnail forced into a square, a stretched banner)."""
    w, h = im.size
    return im.resize((max(8, int(w * r.uniform(0.5, 1.5))), max(8, int(h * r.uniform(0.5, 1.5)))), Image.BILINEAR)


def hue(im: Image.Image, r: random.Random) -> Image.Image:
    h, s, v = im.convert("HSV").split()
    shift = r.randint(20, 235)
    return Image.merge("HSV", (h.point(lambda x: (x + shift) % 256), s, v)).convert("RGB")


def tint(im: Image.Image, r: random.Random) -> Image.Image:
    """A colour filter: sepia, a warm or cool cast, a duotone."""
    grey = ImageOps.grayscale(im)
    if r.random() < 0.5:
        return ImageOps.colorize(grey, _colour(r) if r.random() < 0.5 else (40, 26, 13), _colour(r) if r.random() < 0.5 else (255, 240, 192))
    bands = [b.point(lambda x, g=r.uniform(0.6, 1.4): min(255, int(x * g))) for b in im.split()]
    return Image.merge("RGB", bands)


def tone(im: Image.Image, r: random.Random) -> Image.Image:
    """Tone curves: gamma, posterise, solarise, equalise, autocontrast, invert."""
    op = r.randrange(6)
    if op == 0:
        g = r.choice([r.uniform(0.4, 0.7), r.uniform(1.4, 2.5)])
        return im.point(lambda x: int(255 * (x / 255) ** g))
    if op == 1:
        return ImageOps.posterize(im, r.randint(2, 4))
    if op == 2:
        return ImageOps.solarize(im, r.randint(96, 224))
    if op == 3:
        return ImageOps.equalize(im)
    if op == 4:
        return ImageOps.autocontrast(im, cutoff=r.uniform(2, 10))
    return ImageOps.invert(im)


def vignette(im: Image.Image, r: random.Random) -> Image.Image:
    w, h = im.size
    mask = Image.new("L", (w, h), 0)
    ImageDraw.Draw(mask).ellipse((-w * 0.1, -h * 0.1, w * 1.1, h * 1.1), fill=255)
    mask = mask.filter(ImageFilter.GaussianBlur(max(1, min(w, h) // 6)))
    return Image.composite(im, Image.new("RGB", im.size, _colour(r) if r.random() < 0.3 else (0, 0, 0)), mask)


def banner(im: Image.Image, r: random.Random) -> Image.Image:
    """A caption bar across the top or bottom (memes, watermarked previews), with text on it."""
    im = im.copy()
    w, h = im.size
    bh = max(4, int(h * r.uniform(0.08, 0.25)))
    y = 0 if r.random() < 0.5 else h - bh
    ImageDraw.Draw(im).rectangle((0, y, w, y + bh), fill=_colour(r))
    strip = text(im.crop((0, y, w, y + bh)), r)
    im.paste(strip, (0, y))
    return im


def sticker(im: Image.Image, r: random.Random) -> Image.Image:
    """Stickers, emoji and logos: a few small shapes pasted over the picture."""
    im = im.copy()
    d = ImageDraw.Draw(im)
    w, h = im.size
    for _ in range(r.randint(1, 4)):
        s = max(4, int(min(w, h) * r.uniform(0.06, 0.25)))
        x, y = r.randint(0, max(0, w - s)), r.randint(0, max(0, h - s))
        shape = r.randrange(3)
        if shape == 0:
            d.ellipse((x, y, x + s, y + s), fill=_colour(r), outline=_colour(r), width=max(1, s // 10))
        elif shape == 1:
            d.regular_polygon((x + s / 2, y + s / 2, s / 2), r.randint(3, 8), rotation=r.uniform(0, 90), fill=_colour(r))
        else:
            d.rounded_rectangle((x, y, x + s * 2, y + s), radius=s // 4, fill=_colour(r))
            d.text((x + s // 6, y + s // 4), "".join(r.choice(string.ascii_uppercase) for _ in range(3)), fill=_colour(r))
    return im


def inside(im: Image.Image, r: random.Random) -> Image.Image:
    """The picture placed inside a larger one: a screenshot of a viewer, a collage, a post with its frame."""
    w, h = im.size
    scale_to = r.uniform(0.4, 0.85)
    cw, ch = int(w / scale_to), int(h / scale_to)
    canvas = Image.new("RGB", (cw, ch), _colour(r))
    d = ImageDraw.Draw(canvas)
    for _ in range(r.randint(0, 4)):  # interface bars, text lines, other tiles
        x, y = r.randint(0, cw), r.randint(0, ch)
        d.rectangle((x, y, x + r.randint(10, cw // 2 + 10), y + r.randint(4, ch // 6 + 4)), fill=_colour(r))
    canvas.paste(im, (r.randint(0, cw - w), r.randint(0, ch - h)))
    return canvas


def pixelate(im: Image.Image, r: random.Random) -> Image.Image:
    w, h = im.size
    f = r.uniform(0.06, 0.25)
    return im.resize((max(2, int(w * f)), max(2, int(h * f))), Image.BILINEAR).resize((w, h), Image.NEAREST)


def noise(im: Image.Image, r: random.Random) -> Image.Image:
    import numpy as np

    a = np.asarray(im, dtype=np.float32)
    rng = np.random.default_rng(r.randrange(2**32))
    return Image.fromarray(np.clip(a + rng.normal(0, r.uniform(8, 30), a.shape), 0, 255).astype("uint8"))


def compress(im: Image.Image, r: random.Random) -> Image.Image:
    """Heavy compression in one of several formats."""
    fmt = r.choice(["JPEG", "WEBP", "GIF"])
    buf = io.BytesIO()
    if fmt == "GIF":
        im.convert("P", palette=Image.ADAPTIVE, colors=r.choice([16, 32, 64])).save(buf, "GIF")
    else:
        im.save(buf, fmt, quality=r.randint(3, 20))
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


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
    perspective, squash, hue, tint, tone, vignette, banner, sticker, inside, pixelate, noise, compress,
    lambda im, r: im.filter(r.choice([ImageFilter.MedianFilter(5), ImageFilter.EDGE_ENHANCE_MORE,
                                      ImageFilter.SMOOTH_MORE, ImageFilter.DETAIL, ImageFilter.EMBOSS])),
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
