#!/usr/bin/env python3
"""The same-frame check on copies the benchmark's generator does not make: for each kind of copy, the share of
(photo, copy) pairs labelled duplicate (1 is right for the benign kinds, 0 for the edits), and why the others
are matches, as the report tells a person (explained() and WHY's keys, encoder/frame/). The label alone:
whether the pair is found at all is bench/quality.py's business, on a benchmark of these copies that
`--write-bench` builds (make_benchmark.py's layout, three benign and three edited copies of each query photo).
Prints a table and writes JSON.

  bench/edits.py [--photos ../shared/data/extra] [--n 60] [--kinds benign blurred ...]
  bench/edits.py --write-bench bench-data/unseen [--photos ../shared/data/dev] [--seed 3] [--marks] [--degraded]
                 [--shown | --collaged | --reshaped]
  bench/quality.py --bench bench-data/unseen
"""
from __future__ import annotations

import argparse
import functools
import hashlib
import io
import itertools
import json
import random
import sys
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageFont, ImageOps

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.colour_profiles import PRESS, tagged  # noqa: E402


def encoded(im: Image.Image, fmt: str = "JPEG", **options) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **({"quality": 85} if fmt == "JPEG" and not options else options))
    return buf.getvalue()


def grain(im: Image.Image, sigma: float) -> Image.Image:
    noise = np.random.default_rng(0).normal(0, sigma, (im.height, im.width, 3))
    return Image.fromarray(np.clip(np.asarray(im, np.float32) + noise, 0, 255).astype(np.uint8))


def hue_shift(im: Image.Image, degrees: int) -> Image.Image:
    h, s, v = im.convert("HSV").split()
    return Image.merge("HSV", (h.point(lambda x: (x + degrees * 256 // 360) % 256), s, v)).convert("RGB")


def sepia(im: Image.Image) -> Image.Image:
    return ImageOps.colorize(ImageOps.grayscale(im), (40, 26, 13), (255, 240, 192))


def logo(im: Image.Image) -> Image.Image:
    out, d = im.copy(), min(im.size) // 8
    ImageDraw.Draw(out).ellipse((im.width - 2 * d, im.height - 2 * d, im.width - d, im.height - d), fill=(230, 40, 40))
    return out


def canvas(im: Image.Image) -> Image.Image:
    """The picture in a viewer's window: a gray frame and a toolbar around it."""
    out = Image.new("RGB", (im.width * 5 // 4, im.height * 5 // 4), (60, 60, 64))
    ImageDraw.Draw(out).rectangle((0, 0, out.width, im.height // 12), fill=(220, 220, 225))
    out.paste(im, (im.width // 8, im.height // 8))
    return out


def padded(im: Image.Image, share: float, blurred: bool = False, fill: int = 0) -> Image.Image:
    """The picture in a frame `share` of its shorter side wide on every side: of the gray level `fill`, or a
    blurred, stretched copy of itself (a social network's fill)."""
    d = max(1, round(min(im.size) * share))
    size = (im.width + 2 * d, im.height + 2 * d)
    out = im.resize(size).filter(ImageFilter.GaussianBlur(12)) if blurred else Image.new("RGB", size, (fill,) * 3)
    out.paste(im, (d, d))
    return out


def with_bar(im: Image.Image, share: float, fill, caption: str, top: bool = True) -> Image.Image:
    """A strip `share` of the height added above (or below) the picture, with a caption in it: a meme's
    caption, a phone's status bar."""
    bar = max(2, round(im.height * share))
    out = Image.new("RGB", (im.width, im.height + bar), fill)
    out.paste(im, (0, bar if top else 0))
    ink = (0, 0, 0) if sum(fill) > 380 else (255, 255, 255)
    ImageDraw.Draw(out).text((im.width // 20, (0 if top else im.height) + bar // 6), caption, fill=ink,
                             font=ImageFont.load_default(size=max(8, bar * 2 // 3)))
    return out


def text_over(im: Image.Image, text: str, height: float, centre: tuple[float, float], fill, angle: float = 0) -> Image.Image:
    """`text`, `height` of the picture's height (its width for a watermark across it: height < 0), centred at
    `centre` (shares of the sides), in `fill` (RGBA: its alpha is the text's opacity), turned by `angle`."""
    layer = Image.new("RGBA", im.size, (0, 0, 0, 0))
    size = max(8, round(im.height * height if height > 0 else -im.width * height))
    xy = (round(im.width * centre[0]), round(im.height * centre[1]))
    ImageDraw.Draw(layer).text(xy, text, font=ImageFont.load_default(size=size), fill=fill, anchor="mm")
    out = im.convert("RGBA")
    out.alpha_composite(layer.rotate(angle, center=xy) if angle else layer)
    return out.convert("RGB")


def motion_blur(im: Image.Image, length: int) -> Image.Image:
    """A camera moved sideways: each pixel the mean of `length` along its row."""
    return Image.fromarray(cv2.filter2D(np.asarray(im), -1, np.full((1, length), 1 / length, np.float32)))


def resaved(im: Image.Image) -> bytes:
    """A photo passed on through five apps, each decoding it and encoding it again (JPEG q75 to q87)."""
    data = encoded(im, quality=75)
    for quality in (78, 81, 84, 87):
        data = encoded(Image.open(io.BytesIO(data)).convert("RGB"), quality=quality)
    return data


def tinted(im: Image.Image, add=(0, 0, 0), gain=(1, 1, 1)) -> Image.Image:
    """Each channel times its `gain`, plus its `add` (levels): a filter's tint or another white balance."""
    a = np.asarray(im, np.float32) * np.float32(gain) + np.float32(add)
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))


def sticker(im: Image.Image) -> Image.Image:
    """A yellow smiley a sixth of the shorter side across, a third of the way in."""
    out, d = im.copy(), min(im.size) // 6
    x, y = im.width // 3, im.height // 3
    draw = ImageDraw.Draw(out)
    draw.ellipse((x, y, x + d, y + d), fill=(255, 210, 0))
    for eye in (d // 4, d * 5 // 8):
        draw.ellipse((x + eye, y + d // 3, x + eye + d // 8, y + d // 3 + d // 8), fill=(0, 0, 0))
    return out


def pixelated(im: Image.Image) -> Image.Image:
    return im.resize((max(8, im.width // 10), max(8, im.height // 10)), Image.NEAREST).resize(im.size, Image.NEAREST)


def fitted(im: Image.Image, side: int) -> Image.Image:
    """`im` scaled to a long side of `side` px (Pillow's thumbnail, as a site makes one)."""
    out = im.copy()
    out.thumbnail((side, side), Image.LANCZOS)
    return out


def on_screen(im: Image.Image, screen: tuple[int, int], fill, status: bool = False, share: float = 1.0) -> Image.Image:
    """The picture as a screen shows it: fitted to `share` of a `screen` of `fill`, centred (a phone fits a photo
    to its width), with the clock and the battery in a phone's status bar if `status`."""
    k = min(screen[0] * share / im.width, screen[1] * share / im.height)
    shown = im.resize((max(1, round(im.width * k)), max(1, round(im.height * k))), Image.LANCZOS)
    out = Image.new("RGB", screen, fill)
    out.paste(shown, ((screen[0] - shown.width) // 2, (screen[1] - shown.height) // 2))
    if status:
        draw, font = ImageDraw.Draw(out), ImageFont.load_default(size=screen[0] // 26)
        draw.text((screen[0] // 30, screen[0] // 60), "9:41", fill=(255, 255, 255), font=font)
        draw.text((screen[0] * 4 // 5, screen[0] // 60), "87%", fill=(255, 255, 255), font=font)
    return out


FILLERS = REPO.parent / "shared" / "data" / "train"  # the other photos of a collage: in no benchmark's photos


@functools.cache
def fillers():
    """The other photos of collages, each used once (as long as there are enough), in a fixed order."""
    found = (sorted(p for p in FILLERS.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
             or sorted((REPO / "samples" / "originals").glob("*.jpg")))
    random.Random(0).shuffle(found)
    return itertools.cycle(found)


def collage(im: Image.Image, others: int) -> Image.Image:
    """`im` as the first cell of a collage: beside one other photo (`others` 1), or the top left of a grid of four
    (3), every cell the picture's size (the others cropped to it), the whole halved (a post or a listing shows it
    smaller). No two collages share another photo (two that did would be copies of it, which a benchmark's truth
    does not know)."""
    out = grid([im] + [ImageOps.fit(Image.open(next(fillers())).convert("RGB"), im.size) for _ in range(others)])
    return out.resize((max(1, out.width // 2), max(1, out.height // 2)), Image.LANCZOS)


def grid(pictures: list[Image.Image], columns: int = 2) -> Image.Image:
    """Pictures of one size in rows of `columns`, left to right and top to bottom, with no gap between them."""
    w, h = pictures[0].size
    out = Image.new("RGB", (w * columns, h * -(-len(pictures) // columns)))
    for i, im in enumerate(pictures):
        out.paste(im, (i % columns * w, i // columns * h))
    return out


def thumbnail(im: Image.Image) -> Image.Image:
    return im.resize((max(16, im.width * 3 // 10), max(16, im.height * 3 // 10)), Image.BICUBIC)


BENIGN = {
    "gamma 0.85": lambda im: encoded(im.point(lambda v: int(255 * (v / 255) ** 0.85))),
    "sharpened": lambda im: encoded(im.filter(ImageFilter.UnsharpMask(2, 60, 2))),
    "WebP q80": lambda im: encoded(im, "WEBP", quality=80),
    "half size, Lanczos": lambda im: encoded(im.resize((im.width // 2, im.height // 2), Image.LANCZOS)),
    "grain sigma 3": lambda im: encoded(grain(im, 3)),
    "third size, q60": lambda im: encoded(im.resize((im.width // 3, im.height // 3), Image.BILINEAR), quality=60),
    "a little brighter, less contrast":
        lambda im: encoded(ImageEnhance.Contrast(ImageEnhance.Brightness(im).enhance(1.12)).enhance(0.8)),
    "brighter by 20 %": lambda im: encoded(ImageEnhance.Brightness(im).enhance(1.2)),
    "48-px thumbnail": lambda im: encoded(fitted(im, 48)),
    "6 % cut off one side": lambda im: encoded(im.crop((0, 0, im.width * 94 // 100, im.height))),
}
CONVERTED = {  # benign too: what a site's pipeline or an export dialogue does; in the table only (--write-bench
    #   draws its benign copies from BENIGN)
    "256-colour palette (PNG-8)": lambda im: encoded(im.quantize(256).convert("RGB"), "PNG"),
    "JPEG q10": lambda im: encoded(im, quality=10),
    "Display P3, profile embedded (a phone's)": lambda im: tagged(im, "Display P3"),
    "Adobe RGB, profile embedded (a camera's)": lambda im: tagged(im, "Adobe RGB (1998)"),
    "CMYK, a press's profile embedded (print)": lambda im: tagged(im, PRESS),
    "JPEG saved again by five apps (q75 to q87)": resaved,
    "WebP q30": lambda im: encoded(im, "WEBP", quality=30),
}
EDITED = {
    "Gaussian blur 3 px, next to a thumbnail": lambda im: encoded(im.filter(ImageFilter.GaussianBlur(3))),
    "box blur 7 px": lambda im: encoded(im.filter(ImageFilter.BoxBlur(3))),
    "median 7 px": lambda im: encoded(im.filter(ImageFilter.MedianFilter(7))),
    "motion blur 9 px": lambda im: encoded(motion_blur(im, 9)),
    "pixelated": lambda im: encoded(pixelated(im)),
    "hue +30": lambda im: encoded(hue_shift(im, 30)),
    "sepia": lambda im: encoded(sepia(im)),
    "30 % more colour": lambda im: encoded(ImageEnhance.Color(im).enhance(1.3)),
    "a quarter less colour": lambda im: encoded(ImageEnhance.Color(im).enhance(0.75)),
    "vignette": lambda im: encoded(vignette(im, 0.5)),
    "logo in a corner": lambda im: encoded(logo(im)),
    "in a viewer's window": lambda im: encoded(canvas(im)),
    "turned 2 degrees": lambda im: encoded(im.rotate(2, Image.BICUBIC, expand=True)),
    "posterised": lambda im: encoded(ImageOps.posterize(im, 3)),
    "faded": lambda im: encoded(ImageEnhance.Contrast(ImageEnhance.Brightness(im).enhance(1.25)).enhance(0.6)),
    "black border, 4 % wide": lambda im: encoded(padded(im, 0.04)),
    "white border, 3 % wide": lambda im: encoded(padded(im, 0.03, fill=255)),
    "mid-gray border, 3 % wide": lambda im: encoded(padded(im, 0.03, fill=128)),
    "padded with itself blurred, 4 %": lambda im: encoded(padded(im, 0.04, blurred=True)),
    "caption bar above, 6 %": lambda im: encoded(with_bar(im, 0.06, (255, 255, 255), "when the code works")),
    "dark bar below, 4 %": lambda im: encoded(with_bar(im, 0.04, (40, 40, 40), "12:30", top=False)),
}
FILTERED = {  # edits too, in the table only (--write-bench draws its edits from EDITED): filters and turns that
    #   apps offer beyond EDITED's
    "warm filter (+20 red, -20 blue)": lambda im: encoded(tinted(im, add=(20, 0, -20))),
    "cooler white balance (red -15 %, blue +15 %)": lambda im: encoded(tinted(im, gain=(0.85, 1, 1.15))),
    "green tint (+15)": lambda im: encoded(tinted(im, add=(0, 15, 0))),
    "inverted": lambda im: encoded(ImageOps.invert(im)),
    "solarized (levels over 160 inverted)": lambda im: encoded(ImageOps.solarize(im, 160)),
    "equalized": lambda im: encoded(ImageOps.equalize(im)),
    "a sticker (a smiley)": lambda im: encoded(sticker(im)),
    "turned 180 degrees": lambda im: encoded(im.rotate(180)),
    "turned 1 degree, the corners black": lambda im: encoded(im.rotate(1, Image.BICUBIC)),
    "turned 1 degree, cut to fill": lambda im: encoded(straightened(im, 1)),
    "stretched 15 % wider": lambda im: encoded(im.resize((im.width * 115 // 100, im.height), Image.BICUBIC)),
    "a light vignette (corners 20 % darker)": lambda im: encoded(vignette(im, 0.2)),
}
DEGRADED = {  # edits too: a picture degraded past a light adjustment (noise, heavy compression)
    "noise sigma 20": lambda im: encoded(grain(im, 20)),
    "JPEG q5": lambda im: encoded(im, quality=5),
}
MARKS = {  # edits too: what people write over a picture to claim it
    "watermark across the centre, 40 % white":
        lambda im: encoded(text_over(im, "© STOCK PHOTO", -0.1, (0.5, 0.5), (255, 255, 255, 100))),
    "diagonal watermark, 30 % white":
        lambda im: encoded(text_over(im, "SAMPLE", -1 / 6, (0.5, 0.5), (255, 255, 255, 77), angle=30)),
    "handle in a corner, 3 % high": lambda im: encoded(text_over(im, "@jane.doe", 0.03, (0.85, 0.95), (255, 255, 255, 230))),
    "date stamp, 4 % high": lambda im: encoded(text_over(im, "'19 08 24", 0.04, (0.85, 0.94), (255, 140, 0, 255))),
}


def vignette(im: Image.Image, strength: float) -> Image.Image:
    """Corners darkened by `strength`, the centre kept (a lens or a filter)."""
    y, x = np.mgrid[0:im.height, 0:im.width]
    r2 = (((x - im.width / 2) / im.width) ** 2 + ((y - im.height / 2) / im.height) ** 2) * 2
    return Image.fromarray(np.clip(np.asarray(im, np.float32) * (1 - strength * r2)[..., None], 0, 255).astype(np.uint8))


PHONE, WIDE, PAGE = (720, 1560), (1280, 720), (1000, 1300)  # a phone's screen held upright, a 16:9 one, a page
SHOWN = {  # edits too: the picture as a screen shows it, in a larger canvas (encoder/canvas.py)
    "a phone's screenshot": lambda im: encoded(on_screen(im, PHONE, (0, 0, 0), status=True)),
    "in a 16:9 frame, black bars": lambda im: encoded(on_screen(im, WIDE, (0, 0, 0))),
    "on a white page": lambda im: encoded(on_screen(im, PAGE, (255, 255, 255), share=0.6)),
}


def keystone(im: Image.Image, share: float) -> Image.Image:
    """A print or a screen shot at an angle: the top `share` of the width narrower each side, the sloping sides
    cut away and the rest stretched back to the picture's size."""
    a, (w, h) = np.asarray(im), im.size
    corners = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    slanted = np.float32([[w * share, 0], [w * (1 - share), 0], [w, h], [0, h]])
    out = cv2.warpPerspective(a, cv2.getPerspectiveTransform(corners, slanted), (w, h), flags=cv2.INTER_LINEAR)
    return Image.fromarray(out[:, int(w * share):int(w * (1 - share))]).resize((w, h), Image.BICUBIC)


def straightened(im: Image.Image, degrees: float) -> Image.Image:
    """Turned by `degrees` and cut to the largest centred window of the picture's shape that the turn left
    whole (a horizon levelled by a photo app)."""
    w, h = im.size
    t = np.radians(abs(degrees))
    k = 1 / (np.cos(t) + max(w / h, h / w) * np.sin(t))
    cw, ch = w * k, h * k
    return im.rotate(degrees, Image.BICUBIC).crop((round((w - cw) / 2), round((h - ch) / 2),
                                                   round((w + cw) / 2), round((h + ch) / 2)))


def zoomed(im: Image.Image, keep: float) -> Image.Image:
    """The centre `keep` of each side, enlarged back to the picture's size."""
    w, h = im.size
    cw, ch = round(w * keep), round(h * keep)
    return im.crop(((w - cw) // 2, (h - ch) // 2, (w - cw) // 2 + cw, (h - ch) // 2 + ch)).resize((w, h), Image.BICUBIC)


def cut_to(im: Image.Image, aspect: float) -> Image.Image:
    """Cut to width / height `aspect` (4:5, a portrait post): across from 30 % in, or down the middle."""
    w, h = im.size
    if w / h > aspect:
        cw = round(h * aspect)
        x = (w - cw) * 3 // 10
        return im.crop((x, 0, x + cw, h))
    ch = round(w / aspect)
    return im.crop((0, (h - ch) // 2, w, (h - ch) // 2 + ch))


RESHAPED = {  # edits too: the picture's geometry changed as photo apps change it
    "keystone, the top 10 % narrower each side": lambda im: encoded(keystone(im, 0.10)),
    "turned 5 degrees, cut to fill": lambda im: encoded(straightened(im, 5)),
    "turned 15 degrees, cut to fill": lambda im: encoded(straightened(im, -15)),
    "zoomed in 1.5 x": lambda im: encoded(zoomed(im, 2 / 3)),
    "cut to 4:5": lambda im: encoded(cut_to(im, 0.8)),
    "turned 90 degrees, 10 % cut off": lambda im: encoded(im.rotate(90, expand=True).crop(
        (0, 0, im.height * 9 // 10, im.width))),
    "mirrored, cut to 80 %": lambda im: encoded(ImageOps.mirror(im).crop((0, 0, im.width * 4 // 5, im.height * 4 // 5))),
}


BLURRED = {  # a Gaussian blur of each strength next to the photo: where the check's limit lies at a photo's size
    f"Gaussian blur {sigma} px": lambda im, sigma=sigma: encoded(im.filter(ImageFilter.GaussianBlur(sigma)))
    for sigma in (1.5, 2, 2.5, 3, 4, 5)}
COLLAGED = {  # edits too: the picture as one of several in a collage (encoder/collage.py)
    "side by side with another photo": lambda im: encoded(collage(im, 1)),
    "one of four in a grid": lambda im: encoded(collage(im, 3)),
}


def write_bench(photos: list[Path], out: Path, queries: int, distractors: int, seed: int, marks: bool = False,
                shown: bool = False, collaged: bool = False, degraded: bool = False, reshaped: bool = False) -> None:
    """A benchmark folder as make_benchmark.py writes one (truth.json: groups, each copy's level and kind), its
    copies made by this script's kinds: each query photo (at most 1024 px, JPEG q92) with three benign copies
    (level duplicate) and three edited ones (level match), the kinds drawn at random (the edited ones from
    EDITED, and MARKS too if `marks`, DEGRADED if `degraded`; with `shown` the three of SHOWN, with `collaged`
    the two of COLLAGED, with `reshaped` three of RESHAPED);
    lossless and WebP copies are written as PNG (the hash baselines read JPEG and PNG only)."""
    rng = random.Random(seed)
    photos = list(photos)
    rng.shuffle(photos)
    if len(photos) < queries + distractors:
        sys.exit(f"need {queries + distractors} photos, found {len(photos)}")
    out.mkdir(parents=True, exist_ok=True)
    truth: dict = {"groups": [], "level": {}, "transforms": {}}

    def opaque(*key) -> str:  # names say nothing about groups or kinds
        return hashlib.sha1(repr((seed, *key)).encode()).hexdigest()[:12]

    for i, path in enumerate(photos[:queries + distractors]):
        im = ImageOps.exif_transpose(Image.open(path)).convert("RGB")
        im.thumbnail((1024, 1024), Image.LANCZOS)
        name = f"{opaque(i)}.jpg"
        im.save(out / name, quality=92)
        if i >= queries:
            continue
        group = [name]
        edited = SHOWN if shown else COLLAGED if collaged else RESHAPED if reshaped else {
            **EDITED, **(MARKS if marks else {}), **(DEGRADED if degraded else {})}
        for level, kinds in (("duplicate", BENIGN), ("match", edited)):
            for j, kind in enumerate(rng.sample(sorted(kinds), min(3, len(kinds)))):
                data = kinds[kind](im)
                copy = Image.open(io.BytesIO(data))
                copy_name = f"{opaque(i, level, j)}{'.jpg' if copy.format == 'JPEG' else '.png'}"
                if copy.format == "JPEG":
                    (out / copy_name).write_bytes(data)
                else:
                    copy.convert("RGB").save(out / copy_name)
                group.append(copy_name)
                truth["level"][copy_name], truth["transforms"][copy_name] = level, kind
        truth["groups"].append(group)
    (out / "truth.json").write_text(json.dumps(truth, indent=0))
    print(f"{sum(1 for _ in out.iterdir()) - 1} images, {len(truth['groups'])} groups -> {out}")


KINDS = {"benign": {**BENIGN, **CONVERTED}, "edited": {**EDITED, **FILTERED}, "degraded": DEGRADED, "mark": MARKS,
         "shown": SHOWN, "collaged": COLLAGED, "reshaped": RESHAPED, "blurred": BLURRED}  # the table's kinds of copies, in its order


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", type=Path, default=None,
                    help="photos to copy (default ../shared/data/extra; with --write-bench ../shared/data/dev: "
                         "photos the encoders never trained on)")
    ap.add_argument("--n", type=int, default=60, help="photos used (sorted by name)")
    ap.add_argument("--json", type=Path, default=REPO / "bench" / "results" / "edits.json")
    ap.add_argument("--kinds", nargs="+", choices=KINDS, default=[k for k in KINDS if k != "blurred"],
                    help="the kinds of copies in the table (default: all but the blur ladder)")
    ap.add_argument("--write-bench", type=Path, default=None, help="Instead, write a benchmark of these copies here.")
    ap.add_argument("--queries", type=int, default=100, help="with --write-bench: photos that get copies")
    ap.add_argument("--distractors", type=int, default=200, help="with --write-bench: photos without copies")
    ap.add_argument("--seed", type=int, default=3, help="with --write-bench: which photos and kinds are drawn")
    ap.add_argument("--marks", action="store_true", help="with --write-bench: edited copies drawn from MARKS too")
    ap.add_argument("--degraded", action="store_true", help="with --write-bench: edited copies drawn from DEGRADED too")
    ap.add_argument("--shown", action="store_true", help="with --write-bench: the edited copies are SHOWN's three")
    ap.add_argument("--reshaped", action="store_true",
                    help="with --write-bench: the edited copies are three of RESHAPED's (turns, cuts, a perspective)")
    ap.add_argument("--collaged", action="store_true",
                    help="with --write-bench: the edited copies are COLLAGED's two")
    a = ap.parse_args()
    if a.write_bench:
        source = a.photos or REPO.parent / "shared" / "data" / "dev"
        write_bench(sorted(p for p in source.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png")),
                    a.write_bench, a.queries, a.distractors, a.seed, a.marks, a.shown, a.collaged, a.degraded,
                    a.reshaped)
        return
    from neardup.encoder.decode import signature_of
    from neardup.encoder.frame import explained

    photos_dir = a.photos or REPO.parent / "shared" / "data" / "extra"
    paths = sorted(p for p in photos_dir.glob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    paths = paths or sorted((REPO / "samples" / "originals").glob("*.jpg"))
    photos = [Image.open(p).convert("RGB") for p in paths[:a.n]]
    rows = {}
    for kind in a.kinds:
        for name, make in KINDS[kind].items():
            reasons = Counter()
            for im in photos:
                other = thumbnail(im) if name.endswith("thumbnail") else im
                reasons[explained(signature_of(encoded(other, quality=90)), signature_of(make(im)))] += 1
            rows[name] = {"kind": kind, "duplicate": reasons.pop(None, 0) / len(photos),
                          "why": {why: n / len(photos) for why, n in reasons.most_common()}}
    print(f"{len(photos)} photos from {photos_dir if photos_dir.exists() else 'samples/originals'}")
    print("| copy | kind | labelled duplicate | why the others are matches (the report's reason, share) |")
    print("|---|---|---|---|")
    for name, r in rows.items():
        print(f"| {name} | {r['kind']} | {r['duplicate']:.2f} | "
              + ", ".join(f"{why} {share:.2f}" for why, share in r["why"].items()) + " |")
    a.json.parent.mkdir(parents=True, exist_ok=True)
    a.json.write_text(json.dumps({"photos": len(photos), "copies": rows}, indent=1))


if __name__ == "__main__":
    main()
