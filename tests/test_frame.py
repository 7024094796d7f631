"""The same-frame check (encoder/frame/): benign copies of a photo are duplicates of it, edited ones are
not, unrelated photos never are."""
from __future__ import annotations

import dataclasses
import io
import os

import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageFont, ImageOps

from bench.edits import MARKS, encoded, resaved, sticker, straightened, tinted
from neardup.encoder.decode import signature_of
from neardup.encoder.frame import (
    RULES,
    SHARP_SIDES,
    WHY,
    Frame,
    aligned,
    cast,
    chroma_mark,
    difference,
    explained,
    plain_frame,
    rotation,
    same_frame,
    turn,
)
from tests.conftest import sample_paths


def jpeg(im: Image.Image, quality: int = 85) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def png(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


def trim(im, keep):
    w, h = im.size
    return im.crop((int(w * (1 - keep) / 2), int(h * (1 - keep) / 2), int(w * (1 + keep) / 2), int(h * (1 + keep) / 2)))


def watermark(im):
    """A line of small thin text, as a watermark is added: gone at 32 px, seen at 64."""
    im = im.copy()
    ImageDraw.Draw(im).text((im.width // 12, im.height // 2), "(c) 2026 photo", fill=(255, 255, 255),
                            font=ImageFont.load_default(size=im.height // 20))
    return im


def with_bar(im, share: float, fill, caption: str, top: bool = True):
    """A strip `share` of the height added above (or below) the picture, with a caption in it: a meme's or a
    screenshot's bar, which a trim search can take for picture cut off."""
    bar = max(2, round(im.height * share))
    out = Image.new("RGB", (im.width, im.height + bar), fill)
    out.paste(im, (0, bar if top else 0))
    if caption:
        ink = (0, 0, 0) if sum(fill) > 380 else (255, 255, 255)
        ImageDraw.Draw(out).text((im.width // 20, (0 if top else im.height) + bar // 6), caption, fill=ink,
                                 font=ImageFont.load_default(size=max(8, bar * 2 // 3)))
    return out


def hue(im, turn: int):
    """Every colour's hue turned by `turn` of 256 (its saturation and brightness kept)."""
    h, s, v = im.convert("HSV").split()
    return Image.merge("HSV", (h.point(lambda x: (x + turn) % 256), s, v)).convert("RGB")


def patch(im):
    im = im.copy()
    w, h = im.size
    ImageDraw.Draw(im).rectangle((w // 10, h // 10, w // 3, h // 3), fill=(250, 20, 200))
    return im


BENIGN = {
    "jpeg q30": lambda im: jpeg(im, 30),
    "half size": lambda im: jpeg(im.resize((im.width // 2, im.height // 2))),
    "png": png,
    "brighter": lambda im: jpeg(ImageEnhance.Brightness(im).enhance(1.1)),
    "more contrast": lambda im: jpeg(ImageEnhance.Contrast(im).enhance(1.15)),
    "trimmed 4%": lambda im: jpeg(trim(im, 0.96)),
    "slight blur": lambda im: jpeg(im.filter(ImageFilter.GaussianBlur(0.8))),
    "trimmed 7%, off centre": lambda im: jpeg(im.crop((0, im.height // 20, im.width * 93 // 100, im.height))),
    "6% cut off one side": lambda im: jpeg(im.crop((0, 0, im.width * 94 // 100, im.height))),
    "a little more colour": lambda im: jpeg(ImageEnhance.Color(im).enhance(1.15)),
    "a little brighter, less contrast":
        lambda im: jpeg(ImageEnhance.Contrast(ImageEnhance.Brightness(im).enhance(1.12)).enhance(0.8)),
    "saved again by five apps": resaved,
    "webp q30": lambda im: encoded(im, "WEBP", quality=30),
}
EDITED = {
    "mirrored": lambda im: jpeg(ImageOps.mirror(im)),
    "cropped 30%": lambda im: jpeg(trim(im, 0.7)),
    "grayscale": lambda im: jpeg(ImageOps.grayscale(im).convert("RGB")),
    "bordered": lambda im: jpeg(ImageOps.expand(im, border=im.width // 10, fill=(30, 200, 30))),
    "patch": lambda im: jpeg(patch(im)),
    "watermark": lambda im: jpeg(watermark(im)),
    "saturated": lambda im: jpeg(ImageEnhance.Color(im).enhance(1.6)),
    "hue turned a quarter": lambda im: jpeg(hue(im, 64)),
    "strong blur": lambda im: jpeg(im.filter(ImageFilter.GaussianBlur(6))),
    "turned 90": lambda im: jpeg(im.rotate(90, expand=True)),
    "turned 4 degrees": lambda im: jpeg(im.rotate(4, Image.BICUBIC, expand=True)),
    "turned 2 degrees": lambda im: jpeg(im.rotate(2, Image.BICUBIC, expand=True)),
    "thin border": lambda im: jpeg(ImageOps.expand(im, border=im.width // 20, fill=(200, 60, 40))),
    "faded": lambda im: jpeg(ImageEnhance.Contrast(ImageEnhance.Brightness(im).enhance(1.25)).enhance(0.6)),
    "stretched 8% wider": lambda im: jpeg(im.resize((im.width * 108 // 100, im.height))),
    "caption bar on top": lambda im: jpeg(with_bar(im, 0.06, (255, 255, 255), "when the code works")),
    "black bar below": lambda im: jpeg(with_bar(im, 0.05, (0, 0, 0), "", top=False)),
    "status bar below, 3.5%": lambda im: jpeg(with_bar(im, 0.035, (40, 40, 40), "12:30 wifi", top=False)),
    "warm filter": lambda im: jpeg(tinted(im, add=(20, 0, -20))),
    "green tint": lambda im: jpeg(tinted(im, add=(0, 15, 0))),
    "inverted": lambda im: jpeg(ImageOps.invert(im)),
    "equalized": lambda im: jpeg(ImageOps.equalize(im)),
    "sticker": lambda im: jpeg(sticker(im)),
    "turned 180": lambda im: jpeg(im.rotate(180)),
}


def sample(name: str) -> Image.Image:
    return Image.open(next(p for p in sample_paths() if name in p.name)).convert("RGB")


def square_sample(name: str) -> Image.Image:
    im = sample(name)
    return im.crop((0, 0, min(im.size), min(im.size))).resize((600, 600))


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    return sample("astronaut").resize((768, 768))


def frame_of(data: bytes) -> Frame:
    return signature_of(data)


def test_the_signature_survives_storage(photo):
    f = frame_of(jpeg(photo))
    g = Frame.from_bytes(f.to_bytes())
    assert [side for side, *_ in f.detail] == list(SHARP_SIDES)
    assert (g.aspect, g.long_side) == (pytest.approx(f.aspect), 768)
    assert np.allclose(g.detail, f.detail) and np.allclose(g.rim, f.rim, rtol=1e-2) and same_frame(f, g)
    assert g.finer.shape == (128, 128) and np.array_equal(g.finer, f.finer)
    assert g.chroma.shape == (64, 64, 2) and np.array_equal(g.chroma, f.chroma)
    # the 256-px picture is kept apart (FINEST_KEY), and fetched when a pair first asks for it
    assert g.finest is None and g.finest_plane is None and f.finest.shape == (256, 256)
    asked = []
    h = Frame.from_bytes(f.to_bytes(), lambda: asked.append(1) or f.finest_bytes())
    assert not asked and np.array_equal(h.finest_plane.pixels, f.finest) and asked == [1]
    small = frame_of(jpeg(photo.resize((400, 300))))  # no 256-px picture of a picture under FINEST_FROM
    assert small.finest is None and small.finest_bytes() is None


def solid(colour, size=(500, 400), **options) -> Frame:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, **options)
    return frame_of(buf.getvalue())


def test_a_solid_colour_is_a_duplicate_of_its_re_encodes_and_of_no_other_colour():
    """Placeholders and swatches: a picture of one colour has no contrast, which the colour test scales by."""
    red = solid((200, 30, 30), format="PNG")
    assert same_frame(red, solid((200, 30, 30), format="JPEG", quality=85))
    assert same_frame(red, solid((200, 30, 30), (250, 200), format="PNG"))
    assert not same_frame(red, solid((30, 60, 200), format="PNG"))
    assert not same_frame(red, solid((220, 40, 40), format="PNG"))  # a solid colour has nothing but its colour
    assert not same_frame(red, solid((200, 30, 30), (500, 500), format="PNG"))
    white = solid((255, 255, 255), format="PNG")
    assert same_frame(white, solid((255, 255, 255), format="JPEG", quality=30))
    assert not same_frame(white, solid((0, 0, 0), format="PNG"))
    assert not same_frame(red, frame_of(jpeg(sample("astronaut").resize((500, 400)))))


@pytest.mark.parametrize("edit", sorted(BENIGN))
def test_benign_copies_are_duplicates(photo, edit):
    a, b = frame_of(jpeg(photo)), frame_of(BENIGN[edit](photo))
    assert same_frame(a, b) and same_frame(b, a)


@pytest.mark.parametrize("edit", sorted(EDITED))
def test_edited_copies_are_not(photo, edit):
    a, b = frame_of(jpeg(photo)), frame_of(EDITED[edit](photo))
    assert not same_frame(a, b) and not same_frame(b, a)


@pytest.mark.parametrize("edit, why", [
    ("thin border", "frame"), ("caption bar on top", "frame"), ("black bar below", "frame"), ("strong blur", "sharpness"),
    ("grayscale", "colour"), ("saturated", "colour"), ("faded", "contrast"), ("stretched 8% wider", "shape"),
    ("watermark", "overlay"), ("turned 2 degrees", "turned"), ("mirrored", "mirrored"), ("turned 90", "turned"),
    ("cropped 30%", "cropped"), ("warm filter", "colour"), ("inverted", "contrast"), ("turned 180", "turned")])
def test_a_match_says_why(photo, edit, why):
    """What the report tells the person who looks at a match: the change the check found, either way round."""
    a, b = frame_of(jpeg(photo)), frame_of(EDITED[edit](photo))
    assert explained(a, b) == explained(b, a) == why
    assert explained(a, frame_of(BENIGN["half size"](photo))) is None  # a duplicate has nothing to explain


def test_only_a_mirror_is_told_mirrored_and_only_crops_and_borders_cropped(photo):
    """How a copy moved is told only where it moved so: the other edits keep the reason their change gives."""
    a = frame_of(jpeg(photo))
    told = {edit: explained(a, frame_of(make(photo))) for edit, make in EDITED.items()}
    assert [edit for edit, why in told.items() if why == "mirrored"] == ["mirrored"], told
    assert {edit for edit, why in told.items() if why == "cropped"} <= {"cropped 30%", "bordered", "thin border"}, told
    assert told["turned 90"] == "turned" and told["cropped 30%"] == "cropped"


@pytest.mark.parametrize("edit", ["caption bar on top", "black bar below"])
def test_a_bar_is_told_as_a_frame_where_the_sharpness_fails_first(edit):
    """A bar with its sharp edge adds detail to a smooth picture (the moon), and that measure of the whole picture
    fails before any alignment is tried; asked again without it, the check finds the bar."""
    im = sample("moon")
    a, b = frame_of(jpeg(im)), frame_of(EDITED[edit](im))
    assert explained(a, b) == "frame"


@pytest.mark.parametrize("colour", [0.06, 0.15])
def test_the_faint_colour_of_a_nearly_gray_picture(photo, colour):
    """Heavy JPEG changes a faint colour by more than its own size, but not coherently: a duplicate. Washing
    the colour out, or removing it, scales it: a match, however faint it was."""
    pale = ImageEnhance.Color(photo).enhance(colour)
    a = frame_of(jpeg(pale, 90))
    assert a.colourfulness < 4
    assert same_frame(a, frame_of(jpeg(pale, 15)))
    for edited in (ImageEnhance.Color(pale).enhance(0.3), ImageOps.grayscale(pale).convert("RGB")):
        assert not same_frame(a, frame_of(jpeg(edited, 90)))


def test_a_third_size_q60_copy_of_a_nearly_gray_picture_is_a_duplicate():
    """A third of the picture at q60 leaves a faint colour's chroma as JPEG's noise, which a regression scales at
    random (gains of 0.5): both faint and unlike, no colour was changed. A gray copy still is a match."""
    pale = ImageEnhance.Color(sample("sudoku")).enhance(0.02)
    a = frame_of(jpeg(pale, 90))
    third = pale.resize((pale.width // 3, pale.height // 3), Image.BILINEAR)
    assert same_frame(a, frame_of(jpeg(third, 60)))
    assert not same_frame(a, frame_of(jpeg(ImageOps.grayscale(pale).convert("RGB"), 90)))


def noisy(im: Image.Image, sigma: float) -> Image.Image:
    """`im` with white noise of `sigma` levels added, drawn apart per channel (film grain, a sensor's noise)."""
    noise = np.random.default_rng(0).normal(0, sigma, (im.height, im.width, 3))
    return Image.fromarray(np.clip(np.asarray(im, np.float32) + noise, 0, 255).astype(np.uint8))


@pytest.mark.parametrize("name,sigma", [("aero1", 3), ("building", 2), ("china", 2), ("orange", 3)])
def test_colour_grain_on_a_gray_photo_is_a_duplicate(name, sigma):
    """Film grain of a few levels, drawn apart per channel, gives a gray photo colour noise; squashed to 32 px it
    is under a tenth of a level, no colour. A grayscale copy of a coloured photo is still another colour."""
    im = sample(name)
    gray = ImageOps.grayscale(im).convert("RGB")
    assert same_frame(frame_of(jpeg(gray)), frame_of(jpeg(noisy(gray, sigma))))
    assert not same_frame(frame_of(jpeg(im)), frame_of(jpeg(gray)))


def mosaic(columns: int, rows: int) -> Image.Image:
    """Sample photos side by side at their own resolution (480 x 320 each): detail at every scale."""
    paths = sample_paths()
    big = Image.new("RGB", (480 * columns, 320 * rows))
    for n in range(columns * rows):
        big.paste(Image.open(paths[n % len(paths)]).convert("RGB").crop((0, 0, 480, 320)),
                  (480 * (n % columns), 320 * (n // columns)))
    return big


def test_a_blur_of_a_large_picture_is_measured_where_it_shows():
    """A 960-px picture blurred by 3 px, squashed to 256 px, shows a blur of 0.8 px: 3 px in its own pixels. A
    blur of 1 px stays a duplicate, and so does a copy resized to 400 px."""
    big = mosaic(2, 2)
    original = frame_of(jpeg(big))
    assert not same_frame(original, frame_of(jpeg(big.filter(ImageFilter.GaussianBlur(3)))))
    assert same_frame(original, frame_of(jpeg(big.filter(ImageFilter.GaussianBlur(1)))))
    assert same_frame(original, frame_of(jpeg(big.resize((400, 267), Image.LANCZOS))))


def test_a_blur_of_2_px_on_a_960_px_picture_is_measured_above_256_px():
    """A 7-px box blur (sigma 2 px) or a 7-px median of a 960-px picture is half a pixel at 256 px, which the
    detail there cannot tell from noise; at 512 px, measured from a decode of its own, it is a pixel: a match.
    Without that detail (`high`) the pair passes. A blur of 1 px, sharpening and a copy at half size stay
    duplicates."""
    big = mosaic(2, 2)
    original = frame_of(jpeg(big))
    assert [side for side, _ in original.high] == [512, 431, 362, 304]
    for edit in (ImageFilter.BoxBlur(3), ImageFilter.MedianFilter(7)):
        edited = frame_of(jpeg(big.filter(edit)))
        assert not same_frame(original, edited), edit
        assert same_frame(dataclasses.replace(original, high=()), dataclasses.replace(edited, high=())), edit
    for benign in (big.filter(ImageFilter.GaussianBlur(1)), big.filter(ImageFilter.UnsharpMask(2, 60, 2)),
                   big.resize((480, 320), Image.LANCZOS)):
        assert same_frame(original, frame_of(jpeg(benign)))


@pytest.mark.parametrize("mosaic_size, blur, slight, half", [((9, 9), 6, 1.5, (2160, 1440)), ((5, 5), 3, 1, (1440, 960))],
                         ids=["12 MP", "4 MP"])
def test_a_blur_of_a_large_picture_is_measured_above_256_px(mosaic_size, blur, slight, half):
    """A 4,320-px JPEG decodes at an eighth of its size to 540 px: its detail at 512 to 304 px is measured on
    that decode, at no cost; a 2,400-px one's eighth (300 px) holds little of it, and it is measured on a decode
    at a quarter (600 px). A Gaussian blur of 6 px there (1.4 px per 1,000 px), of 3 px here (1.25), is 0.35 or
    0.4 px at 256, under the noise, and 0.7 or 0.64 px at 512: a match, which without that detail passes. A
    slight blur, sharpening, a PNG of the picture (decoded whole, then reduced as the JPEG's draft is) and copies
    at about half size and at 1,600 px (a decode of its own) stay duplicates."""
    big = mosaic(*mosaic_size)
    original = frame_of(jpeg(big))
    assert [side for side, _ in original.high] == [512, 431, 362, 304]
    edited = frame_of(jpeg(big.filter(ImageFilter.GaussianBlur(blur))))
    assert not same_frame(original, edited)
    assert same_frame(dataclasses.replace(original, high=()), dataclasses.replace(edited, high=()))
    for benign in (jpeg(big.filter(ImageFilter.GaussianBlur(slight))), jpeg(big.filter(ImageFilter.UnsharpMask(2, 60, 2))),
                   png(big), jpeg(big.resize(half, Image.LANCZOS)), jpeg(big.resize((1600, 1067), Image.LANCZOS))):
        assert same_frame(original, frame_of(benign))


@pytest.mark.parametrize("name", ["building", "china", "motorcycle"])
def test_30_percent_more_or_a_quarter_less_colour_is_a_match(name):
    """Saturation edits scale the chroma alone: 30 % more or 25 % less is a recolouring, though each picture's
    colourfulness stays within what compression moves it by. Brightness and contrast scale the chroma with the
    gray levels: brighter with a fifth less contrast stays a duplicate."""
    im = sample(name)
    original = frame_of(jpeg(im))
    for k in (1.3, 0.75):
        assert not same_frame(original, frame_of(jpeg(ImageEnhance.Color(im).enhance(k))))
    assert same_frame(original, frame_of(BENIGN["a little brighter, less contrast"](im)))


@pytest.mark.parametrize("name", ["aero1", "building", "chelsea", "china", "motorcycle"])
def test_a_quarter_more_or_a_fifth_less_colour_is_a_match_while_gamma_is_a_duplicate(name):
    """The chroma is compared through the tone curve that takes one picture's gray levels to the other's,
    applied to each channel: a gamma edit bends that curve and changes the chroma with it, a saturation edit
    scales the chroma and leaves the gray levels be. With one gain for all levels (the gray spreads' ratio),
    within 1.25, 25 % more or 20 % less colour passed as a duplicate of each of these photos."""
    im = sample(name)
    original = frame_of(jpeg(im))
    for k in (1.25, 0.8):
        assert not same_frame(original, frame_of(jpeg(ImageEnhance.Color(im).enhance(k)))), k
    for g in (0.8, 1.25):
        assert same_frame(original, frame_of(jpeg(im.point(lambda v: round(255 * (v / 255) ** g))))), g


@pytest.mark.parametrize("name", ["aero1", "building", "left", "china"])
def test_a_hue_turned_by_30_degrees_is_a_match_even_in_faint_colour(name):
    """A turn of the hue by 30 degrees scales the chroma's regression gain by cos 30, within what a duplicate
    may keep; the turn itself is measured, however faint the colour. Heavy JPEG of the same faint colour
    turns it by far less: a duplicate."""
    for colour in (1.0, 0.3):
        im = ImageEnhance.Color(sample(name)).enhance(colour)
        original = frame_of(jpeg(im, 90))
        assert not same_frame(original, frame_of(jpeg(hue(im, 21)))), colour
        assert same_frame(original, frame_of(jpeg(im, 20))), colour


def motion_blur(im: Image.Image, length: int, direction: str) -> Image.Image:
    """The camera moved while the shutter was open: each pixel the mean of `length` along a line."""
    line = {"sideways": np.ones((1, length)), "up": np.ones((length, 1)), "diagonal": np.eye(length)}[direction]
    return Image.fromarray(cv2.filter2D(np.asarray(im), -1, (line / line.sum()).astype(np.float32)))


@pytest.mark.parametrize("direction", ["sideways", "up", "diagonal"])
def test_a_blur_along_one_direction_is_a_match(direction):
    """A 480-px picture smeared by 9 px along one direction keeps its detail along it. Smeared sideways, the
    amount of detail alone drops too little to tell (the check passes it without the direction test); the
    direction gives every one away (the smear also takes the mosaic's grain, which the noise floor sees).
    Smeared by 2 px, it stays a duplicate."""
    im = mosaic(1, 1)
    original = frame_of(jpeg(im))
    smeared = frame_of(jpeg(motion_blur(im, 9, direction)))
    assert not same_frame(original, smeared) and not same_frame(smeared, original)
    if direction == "sideways":
        assert same_frame(original, smeared, dataclasses.replace(RULES, max_turned_detail=float("inf"),
                                                                 max_grain=float("inf")))
    assert same_frame(original, frame_of(jpeg(motion_blur(im, 2, direction))))


@pytest.mark.parametrize("side", [300, 240, 180])
def test_a_blurred_picture_is_no_duplicate_of_its_thumbnail(side):
    """Next to a thumbnail, a 960-px picture blurred by 3 px can only be compared at the thumbnail's size,
    where the blur has shrunk to under a pixel: what it lost there is measured in its own pixels. A blur of
    1 px stays a duplicate of the thumbnail."""
    big = mosaic(2, 2)
    thumbnail = frame_of(jpeg(big.resize((side, side * 2 // 3), Image.LANCZOS)))
    assert not same_frame(thumbnail, frame_of(jpeg(big.filter(ImageFilter.GaussianBlur(3)), 75)))
    assert same_frame(thumbnail, frame_of(jpeg(big.filter(ImageFilter.GaussianBlur(1)))))


@pytest.mark.parametrize("edit", ["0.3 size, bicubic", "third size, q60", "jpeg q50", "slight blur"])
def test_copies_of_a_large_photo_stay_duplicates(edit):
    """A 2880-px photo is measured at 256 px, eleven times smaller: a small copy, resampled its own way, keeps
    a little less detail there, which scaled by eleven would read as a blur of 2 px. A blur is only estimated
    from a loss of detail the measurement can tell from such noise."""
    big = mosaic(6, 6)
    copy = {"0.3 size, bicubic": lambda: jpeg(big.resize((864, 576), Image.BICUBIC)),
            "third size, q60": lambda: jpeg(big.resize((960, 640), Image.BILINEAR), 60),
            "jpeg q50": lambda: jpeg(big, 50), "slight blur": lambda: jpeg(big.filter(ImageFilter.GaussianBlur(1.2)))}
    assert same_frame(frame_of(jpeg(big)), frame_of(copy[edit]()))


@pytest.mark.parametrize("degrees", [4, 6, 10])
def test_a_turn_is_a_match_even_where_its_corners_vanish(degrees):
    """A picture that fades to black at its corners (night, space, a vignette): the black corners a turn adds
    leave no trace, and a trim search can explain the rest; the refined alignment shows the turn."""
    im = square_sample("aero1")
    yy, xx = np.mgrid[0:600, 0:600] / 599 - 0.5
    im = Image.fromarray((np.asarray(im) * np.clip(1 - np.hypot(xx, yy) / 0.55, 0, 1)[..., None]).astype(np.uint8))
    original, turned = frame_of(jpeg(im)), frame_of(jpeg(im.rotate(degrees, Image.BICUBIC, expand=True)))
    assert not same_frame(original, turned) and same_frame(original, frame_of(jpeg(im, 50)))


@pytest.mark.parametrize("name", ["apple", "building", "rocket", "coins"])
@pytest.mark.parametrize("degrees", [1, -1])
@pytest.mark.parametrize("cut", [False, True])
def test_a_turn_of_one_degree_is_a_match(name, degrees, cut):
    """Straightened by a degree, its corners left black or cut off (a horizon levelled by a photo app): a turn
    the 64-px refinement cannot tell from a benign pair's, refined again at 128 px. The same picture
    re-encoded or halved stays a duplicate."""
    im = sample(name)
    original = frame_of(jpeg(im))
    turned = straightened(im, degrees) if cut else im.rotate(degrees, Image.BICUBIC)
    assert explained(original, frame_of(jpeg(turned))) == "turned"
    assert same_frame(original, frame_of(jpeg(im, 50)))
    assert same_frame(original, frame_of(jpeg(im.resize((im.width // 2, im.height // 2), Image.LANCZOS))))


@pytest.mark.parametrize("name,corner", [("sudoku", (40, 45)), ("sudoku", (10, 30)), ("aero1", (40, 45))])
def test_a_trim_of_fine_lines_is_a_duplicate(name, corner):
    """Sharp lines (a grid, a wing) leave a residual at any misalignment the trim search's 1 % steps allow;
    the alignment refined at 64 px takes it away."""
    im = square_sample(name)
    x, y = corner
    assert same_frame(frame_of(jpeg(im)), frame_of(jpeg(im.crop((x, y, x + 560, y + 555)))))


@pytest.mark.parametrize("name,box", [("coins", (0, 24, 564, 400)), ("astronaut", (0, 24, 564, 400)),
                                      ("orange", (18, 0, 582, 376))])
def test_a_product_shot_trimmed_to_its_object_is_a_duplicate(name, box):
    """An object on studio white, trimmed by 6 % to (nearly) its edge: what the trim cut off is plain white,
    unlike the object along that edge but like the white at most of the positions round the picture, so it is
    no border; and the edges it cut off the object turn the direction of its detail, which is no blur. A plain
    band unlike the picture all round is a border."""
    im = Image.new("RGB", (600, 400), (255, 255, 255))
    im.paste(sample(name).resize((480, 250)), (60, 130))
    trimmed = im.crop(box)
    assert same_frame(frame_of(jpeg(im)), frame_of(jpeg(trimmed)))
    assert not same_frame(frame_of(jpeg(trimmed)), frame_of(jpeg(ImageOps.expand(trimmed, border=12, fill=(60, 60, 60)))))


@pytest.mark.parametrize("name,share,fill", [("building", 0.03, "black"), ("astronaut", 0.03, "white"),
                                             ("china", 0.04, "white"), ("orange", 0.04, "black"),
                                             ("apple", 0.03, "gray"), ("coins", 0.03, "gray"),
                                             ("building", 0.02, "gray"), ("chelsea", 0.02, "gray"),
                                             ("home", 0.04, "black"), ("left", 0.03, "white"),
                                             ("rocket", 0.04, "gray"), ("moon", 0.04, "gray")])
def test_a_thin_border_is_a_match(name, share, fill):
    """A border 3-4 % of the shorter side wide is one or two lines at 64 px: read unsoftened, those lines are
    the plain band they are (softened, the picture next to them bled in). A mid-gray one, 2-3 % wide, can be
    under a line there and of the gray of the picture's edges: the rim, at 256 px, holds its plain lines. The
    picture's own outer lines, which the border mixes into at 64 px, can pull the refined window off the border
    (home, left, rocket, moon): the window refined without them shows it."""
    im = sample(name)
    framed = ImageOps.expand(im, border=round(share * min(im.size)), fill=fill)
    assert not same_frame(frame_of(jpeg(im)), frame_of(jpeg(framed)))


@pytest.mark.parametrize("name", ["aero1", "apple", "chelsea", "moon"])
def test_a_letterboxed_photo_trimmed_is_a_duplicate(name):
    """A photo with black bars above and below (7 % each), trimmed by 4 %: the bars cut through are the trim's own
    plain edges, not a frame round it, however the window is refined (without those outer lines, the fit can
    drift a line and leave a line of bar outside it, which alone reads as a bar added)."""
    im = sample(name)
    bar = round(0.07 * im.height)
    boxed = Image.new("RGB", (im.width, im.height + 2 * bar), "black")
    boxed.paste(im, (0, bar))
    assert same_frame(frame_of(jpeg(boxed)), frame_of(jpeg(trim(boxed, 0.96))))


@pytest.mark.parametrize("name", ["aero1", "china"])
def test_a_brighter_copy_whose_highlights_clip_is_a_duplicate(name):
    """Brightened by 15 %, a sky or a white wall clips at 255: the grids' residual is measured where neither
    picture clips (against a prediction clipped the same way), and a pair that then needs no refinement is
    compared at 64 px as it is when the overlay test's own trim fit does not agree."""
    im = sample(name)
    assert same_frame(frame_of(jpeg(im)), frame_of(jpeg(ImageEnhance.Brightness(im).enhance(1.15))))


@pytest.mark.parametrize("name,brightness,contrast", [("apple", 1.2, 1.0), ("apple", 1.3, 1.0), ("motorcycle", 1.3, 1.0),
                                                      ("apple", 1.2, 0.85), ("orange", 1.2, 0.85)])
def test_where_a_brighter_copy_clips_pixel_by_pixel_no_overlay_is_looked_for(name, brightness, contrast):
    """Brightened by 20-30 % (its contrast lowered after, or not), a light surface clips pixel by pixel: its cells
    at 32 px are means of clipped and unclipped pixels, which no tone curve of the other picture's cells predicts
    (a lit face turned white, its colour gone). The overlay tests leave out the cells the pair's tone change
    takes to the other picture's top level; a sticker elsewhere on the same copy is still a match."""
    im = sample(name)
    brighter = ImageEnhance.Contrast(ImageEnhance.Brightness(im).enhance(brightness)).enhance(contrast)
    original = frame_of(jpeg(im))
    assert same_frame(original, frame_of(jpeg(brighter)))
    assert not same_frame(original, frame_of(jpeg(patch(brighter))))


def test_a_brighter_copy_whose_colours_clip_in_one_channel_is_a_duplicate():
    """Brightened by 20 %, an orange's red channel clips at 255 while its green and blue still rise: its colour
    changes where it clips. The chroma is compared again with the brightening applied to the other picture,
    clipped the same way, so that is no overlay; a sticker on the same copy still is."""
    im = sample("orange")
    brighter = ImageEnhance.Brightness(im).enhance(1.2)
    original = frame_of(jpeg(im))
    assert same_frame(original, frame_of(jpeg(brighter)))
    assert not same_frame(original, frame_of(jpeg(patch(brighter))))


def every_sample() -> list[Image.Image]:
    return [Image.open(p).convert("RGB") for p in sample_paths()]


def test_posterised_copies_are_matches_while_palette_and_heavy_jpeg_copies_are_duplicates():
    """Posterised to 3 bits (8 levels a channel, 32 apart) a photo keeps its frame and, roughly, its tones: the
    grids pass. What changes is its histogram, a few levels where there was a continuum. A 256-colour palette
    (PNG-8, GIF) and JPEG at q10 quantise too, to levels a few apart, which the tone peaks' widths leave out.
    Of the bundled samples' 14 photos: 13 posterised copies are matches, while all 14 palette copies and 12 q10
    copies are duplicates; brightness, contrast, compression and resizing move the peaks by a fraction of what
    is allowed."""
    photos = every_sample()
    posterised = palette = heavy = 0
    for im in photos:
        original = frame_of(jpeg(im))
        posterised += same_frame(original, frame_of(jpeg(ImageOps.posterize(im, 3))))
        palette += same_frame(original, frame_of(png(im.quantize(256).convert("RGB"))))
        heavy += same_frame(original, frame_of(jpeg(im, 10)))
        for edit in ("brighter", "more contrast", "a little brighter, less contrast", "jpeg q30", "half size"):
            assert abs(frame_of(BENIGN[edit](im)).peaks - original.peaks) <= RULES.max_peaks / 2, edit
    assert posterised <= 2, f"{posterised} of {len(photos)} posterised copies passed as duplicates"
    assert palette >= len(photos) - 1, f"{palette} of {len(photos)} 256-colour copies passed as duplicates"
    assert heavy >= len(photos) - 4, f"{heavy} of {len(photos)} q10 copies passed as duplicates"


@pytest.mark.parametrize("name,side,quality", [("chelsea", 40, 85), ("motorcycle", 40, 85), ("motorcycle", 48, 75),
                                               ("rocket", 40, 75), ("apple", 32, 75), ("orange", 32, 75)])
def test_a_thumbnail_under_64_px_is_a_duplicate_and_a_patched_one_is_not(name, side, quality):
    """A 40-px thumbnail has no detail finer than its own pixels, which the 64-px gray pictures would take for
    an overlay along every edge: such pairs are compared softened to the smaller picture's resolution. Its JPEG
    blocks are a few cells of the 32-px grid too: the grids are compared softer."""
    im = sample(name)
    original = frame_of(jpeg(im))
    small, patched = im.copy(), patch(im)
    for t in (small, patched):
        t.thumbnail((side, side), Image.LANCZOS)
    assert same_frame(original, frame_of(jpeg(small, quality)))
    assert not same_frame(original, frame_of(jpeg(patched, quality)))


@pytest.mark.parametrize("corner", [(0, 0), (1, 1), (0, 1), (1, 0)])
def test_a_trim_of_a_picture_of_repeated_things_is_a_duplicate(corner):
    """Coins in rows: cut by 7 %, the picture as it is differs from its trim by more than the picture from an
    unrelated one (a row moves onto the next), so the trim is searched for however far apart they look, and
    between the two best windows along each axis."""
    im = sample("coins")
    w, h = im.size
    cw, ch = int(w * 0.93), int(h * 0.93)
    x, y = (w - cw) * corner[0], (h - ch) * corner[1]
    assert same_frame(frame_of(jpeg(im)), frame_of(jpeg(im.crop((x, y, x + cw, y + ch)))))


@pytest.mark.parametrize("name", ["coins", "building", "astronaut", "china"])
def test_the_trim_search_stops_where_no_trim_explains_the_profiles(name):
    """Each axis's trim is fitted on the mean profiles first; a way round whose best window leaves much of a
    profile unexplained (a 30 % crop of a picture with structure along both axes, which no trim of 10 %
    reaches) is not compared further, and a 7 % trim still is."""
    im = sample(name)
    w, h = im.size
    original = frame_of(jpeg(im))
    cropped = frame_of(jpeg(im.crop((0, 0, w * 7 // 10, h * 7 // 10))))
    trimmed = frame_of(jpeg(im.crop((0, 0, w * 93 // 100, h * 93 // 100))))
    assert aligned(original, cropped, RULES.max_trim) and not aligned(original, cropped, RULES.max_trim,
                                                                      RULES.max_profile_error)
    assert aligned(original, trimmed, RULES.max_trim, RULES.max_profile_error)
    assert same_frame(original, trimmed) and not same_frame(original, cropped)


def test_a_shear_is_no_turn():
    """The refinement of a picture with little to align on (a test tube on a plain cloth) can drift into a
    shear; only the turn part of the affine counts as turned."""
    shear = np.float32([[1.0, -0.012, 0.0], [-0.039, 1.0, 0.0]])
    c, s = np.cos(np.radians(2)), np.sin(np.radians(2))
    turned = np.float32([[c, -s, 0.0], [s, c, 0.0]])
    assert turn(shear) > RULES.max_rotation and rotation(shear) < RULES.max_rotation
    assert rotation(turned) == pytest.approx(s, abs=1e-3) and s > RULES.max_rotation


@pytest.mark.parametrize("name,parts", [("aero1", 25), ("apple", 25), ("building", 25), ("astronaut", 25),
                                        ("china", 25), ("left", 25), ("coins", 25), ("left", 30),
                                        ("rocket", 33), ("home", 33), ("left", 33)])
def test_a_picture_padded_with_itself_blurred_is_a_match(name, parts):
    """A social network's fill: the picture on a blurred, stretched copy of itself, 1/`parts` of its shorter
    side wider all round. The fill is no plain band, so the border test passes it; it has next to none of the
    fine detail the picture's own edge has, which a trim's margin keeps. Where the picture's edge is smooth
    too (a calibration chessboard, coins on a plain ground), no side alone tells, the margin all round does.
    A fill found is a frame whichever way round the trim search tries next: the framed copy, squashed into
    a window of the picture, can pass for a trim of it (left, rocket: 3 %). A fill of 3 % can pass as the
    picture is, unrefined onto its window (home, left): the trim that fits better shows the fill."""
    im = sample(name)
    d = min(im.size) // parts
    padded = im.resize((im.width + 2 * d, im.height + 2 * d)).filter(ImageFilter.GaussianBlur(12))
    padded.paste(im, (d, d))
    assert not same_frame(frame_of(jpeg(im)), frame_of(jpeg(padded)))


def on_backdrop(name: str) -> Image.Image:
    """An object photographed on a blue backdrop."""
    shade = np.linspace(0.8, 1.0, 400)[:, None, None]
    im = Image.fromarray((np.array([20, 90, 200]) * shade * np.ones((400, 600, 1))).astype(np.uint8))
    im.paste(sample(name).resize((240, 180)), (330, 190))
    return im


@pytest.mark.parametrize("name", ["aero1", "chelsea", "coins"])
def test_a_caption_in_a_colour_of_the_backdrops_gray_is_a_match(name):
    """Brown text on a blue backdrop of the same gray level: invisible in gray at any size, plain in colour."""
    im = on_backdrop(name)
    gray = 0.299 * 20 + 0.587 * 90 + 0.114 * 200
    captioned = im.copy()
    ImageDraw.Draw(captioned).text((30, 40), "SALE -50%", fill=(int(gray + 25), int(gray - 5), 40),
                                   font=ImageFont.load_default(size=48))
    original = frame_of(jpeg(im))
    assert not same_frame(original, frame_of(jpeg(captioned)))
    assert same_frame(original, frame_of(jpeg(im, 30))) and same_frame(original, frame_of(BENIGN["half size"](im)))


def star_cluster(seed: int) -> Image.Image:
    """A globular cluster: 20,000 stars scattered about the centre, a blob at 32 px, stars at 64."""
    rng = np.random.default_rng(seed)
    sky = np.zeros((600, 600), np.float32)
    xy = np.clip(rng.normal(300, 120, (20000, 2)), 0, 599).astype(int)
    np.add.at(sky, (xy[:, 1], xy[:, 0]), rng.uniform(100, 255, 20000))
    im = Image.fromarray(np.clip(sky, 0, 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(1.0))
    return Image.merge("RGB", [im.point(lambda v: min(255, v * 4))] * 3)


@pytest.mark.parametrize("seed", [0, 2, 4])
def test_two_star_clusters_are_not_duplicates_though_their_grids_agree(seed):
    one, other = star_cluster(seed), star_cluster(seed + 1)
    assert not same_frame(frame_of(jpeg(one)), frame_of(jpeg(other)))
    assert all(same_frame(frame_of(jpeg(one)), frame_of(BENIGN[edit](one))) for edit in ("jpeg q30", "half size"))


def test_the_verdict_does_not_depend_on_the_order(photo):
    """Pairs are labelled in the order their images arrived, which differs between a scan and the queue:
    copies near every limit (colour, contrast, blur, trim) get one verdict whichever comes first."""
    im = photo.resize((320, 320))
    variants = [jpeg(im, 20), jpeg(trim(im, 0.9)), jpeg(trim(im, 0.85))]
    pale = ImageEnhance.Contrast(im).enhance(0.5)  # room for more contrast without clipping
    variants += [jpeg(pale)] + [jpeg(ImageEnhance.Contrast(pale).enhance(k)) for k in (1.36, 1.4, 1.44, 1.48)]
    variants += [jpeg(ImageEnhance.Color(im).enhance(k)) for k in (0.6, 0.7, 1.35, 1.5)]
    variants += [jpeg(ImageEnhance.Contrast(im).enhance(k)) for k in (0.65, 0.75, 1.4)]
    variants += [jpeg(im.filter(ImageFilter.GaussianBlur(r))) for r in (1.5, 2.0, 2.5)]
    frames = [frame_of(v) for v in variants]
    verdicts = [(i, j, same_frame(a, b), same_frame(b, a)) for i, a in enumerate(frames) for j, b in enumerate(frames)]
    assert any(v for _, _, v, _ in verdicts) and not all(v for _, _, v, _ in verdicts)
    assert [(i, j) for i, j, ab, ba in verdicts if ab != ba] == []


def test_the_signature_does_not_depend_on_the_size_of_the_decode():
    """A JPEG is draft-decoded near the measuring side (a 1440-px photo at 360 px), a PNG at 720 (halved only,
    to keep 512 px: decode.whole_scale()): halved to the measuring side, the larger decode's fine detail and the
    detail's direction are the smaller one's, so a PNG and its JPEG agree, and a trimmed copy stays a duplicate
    across the two."""
    big = mosaic(3, 2)
    png = io.BytesIO()
    big.save(png, "PNG")
    small, large = frame_of(jpeg(big, 95)), frame_of(png.getvalue())
    assert [s for s, _ in small.detail] == [s for s, _ in large.detail]
    assert all(abs(y / x - 1) < 0.05 for (_, x), (_, y) in zip(small.detail, large.detail))
    assert np.abs(np.subtract(small.direction, large.direction)).max() < 0.05
    trimmed = frame_of(jpeg(trim(big, 0.94)))
    assert same_frame(large, trimmed) and same_frame(small, trimmed)


@pytest.mark.parametrize("size", [(2000, 1), (1, 2000), (3000, 2), (700, 3)])
def test_pictures_a_few_pixels_thick_are_signed(size):
    """A banner or a divider line 1-3 px thick is a picture too: it gets a signature, decoded from a PNG (whole)
    or from a JPEG, halved on its long side only."""
    rng = np.random.default_rng(0)
    im = Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3)).astype(np.uint8))
    png = io.BytesIO()
    im.save(png, "PNG")
    a, b = frame_of(png.getvalue()), frame_of(jpeg(im, 95))
    assert a.long_side == b.long_side == max(size) and len(a.detail) == len(b.detail)


def star_field(seed: int, side: int = 512, stars: int = 800) -> Image.Image:
    """Points of light on black, a pixel or two across, of many brightnesses and a few tints, half of them in
    a cluster."""
    rng = np.random.default_rng(seed)
    centre = rng.uniform(0.3, 0.7, 2) * side
    where = np.concatenate([rng.uniform(0, side, (stars // 2, 2)), rng.normal(centre, 0.12 * side, (stars // 2, 2))])
    sky = np.zeros((side, side, 3), np.float32)
    for (x, y), level, size in zip(where, rng.uniform(60, 255, stars), rng.uniform(0.6, 1.8, stars)):
        cv2.circle(sky, (int(x), int(y)), int(np.ceil(2 * size)), (level * rng.uniform(0.75, 1.0, 3)).tolist(), -1,
                   cv2.LINE_AA)
    return Image.fromarray(np.clip(cv2.GaussianBlur(sky, (0, 0), 0.7), 0, 255).astype(np.uint8))


def test_trims_of_star_fields_are_duplicates():
    """Trimmed by 5 % of each side, a star field's stars fall between the 32-px grid's cells at other phases
    than in the picture resampled over the trim's window: compared over a trim, the grids are softened more
    (without that, 1 of these 8 passes). Mirrored, none does."""
    fields = [star_field(seed) for seed in range(8)]
    originals, trims = [frame_of(jpeg(im)) for im in fields], [trim(im, 0.9) for im in fields]
    assert sum(same_frame(a, frame_of(jpeg(t))) for a, t in zip(originals, trims)) >= 5
    assert not any(same_frame(a, frame_of(jpeg(ImageOps.mirror(t)))) for a, t in zip(originals, trims))


@pytest.mark.parametrize("name, mark", [
    ("opencv_aero1", "handle in a corner, 3 % high"), ("opencv_home", "handle in a corner, 3 % high"),
    ("scikit_image_astronaut", "watermark across the centre, 40 % white"),
    # and marks whose cells stand out by 7.5-7.9 levels at 128 px: past the bound of 7, under 8
    ("opencv_apple", "date stamp, 4 % high"), ("opencv_building", "watermark across the centre, 40 % white"),
    ("scikit_image_chelsea", "handle in a corner, 3 % high")])
def test_a_watermark_too_thin_for_64_px_is_a_match_at_128(name, mark):
    """Strokes a pixel or two wide at 64 px mix into the picture round them; the 128-px gray picture shows them.
    Without that test (and the 256-px one: max_finer_overlay and max_finest_overlay unbounded; and the 64-px
    chroma's, which sees an orange date stamp too) these pairs pass as duplicates. Benign copies still pass."""
    im = sample(name)
    original = frame_of(jpeg(im, 90))
    marked = frame_of(MARKS[mark](im))
    assert explained(original, marked) == "overlay"
    assert same_frame(original, marked, dataclasses.replace(RULES, max_finer_overlay=float("inf"),
                                                            max_finest_overlay=float("inf"),
                                                            max_chroma_mark=float("inf")))
    for edit in BENIGN.values():
        assert same_frame(original, frame_of(edit(im)))


@pytest.mark.parametrize("name, mark", [
    ("opencv_aero1", "watermark across the centre, 40 % white"), ("opencv_home", "date stamp, 4 % high"),
    ("opencv_orange", "date stamp, 4 % high"), ("opencv_sudoku", "date stamp, 4 % high")])
def test_a_mark_that_128_px_mixes_into_its_cell_is_a_match_at_256(name, mark):
    """A date stamp or a watermark's strokes can fill a fraction of a 4-px cell at 128 px; the 256-px gray
    picture shows them. Without that test (max_finest_overlay unbounded; and the 64-px chroma's) these pairs
    pass as duplicates. Benign copies still pass, a brightened one and one with more contrast among them: the
    test is asked of copies in the same tones only (finest_tones), as a picture matched onto re-toned tones
    differs where it clipped."""
    im = sample(name)
    original = frame_of(jpeg(im, 90))
    marked = frame_of(MARKS[mark](im))
    assert explained(original, marked) == "overlay"
    assert same_frame(original, marked, dataclasses.replace(RULES, max_finest_overlay=float("inf"),
                                                            max_chroma_mark=float("inf")))
    for edit in BENIGN.values():
        assert same_frame(original, frame_of(edit(im)))



def test_a_date_stamp_in_a_colour_of_its_background_s_gray_is_a_match_in_chroma_at_64_px():
    """An orange date stamp on the cat's fur: about the gray of the fur round it, so no gray test sees it, and a
    fraction of a chroma cell of 1/16 of each side. In the 64-px chroma its cells stand out of the rest. Without
    that test (max_chroma_mark unbounded) the pair passes as a duplicate. Benign copies still pass, and a gray
    picture has no chroma to stand out."""
    im = sample("scikit_image_chelsea")
    original = frame_of(jpeg(im, 90))
    stamped = frame_of(MARKS["date stamp, 4 % high"](im))
    assert explained(original, stamped) == "overlay"
    assert same_frame(original, stamped, dataclasses.replace(RULES, max_chroma_mark=float("inf")))
    for edit in BENIGN.values():
        assert same_frame(original, frame_of(edit(im)))
    gray = ImageOps.grayscale(im).convert("RGB")
    assert chroma_mark(frame_of(jpeg(gray, 90)), frame_of(BENIGN["brighter"](gray))) < 1


def test_a_tint_of_a_colourful_photo_is_a_match_by_its_gray():
    """A green tint of 15 levels over the colourful street of the china sample: its colours' pattern and strength
    barely move, so the chroma test lets it pass, but the few gray cells it has turn green (compare.cast()).
    Without that test (max_cast unbounded) the pair passes as a duplicate. Brightness, contrast and the other
    benign copies leave gray gray."""
    im = sample("scikit_learn_china")
    original = frame_of(jpeg(im, 90))
    tint = frame_of(encoded(tinted(im, add=(0, 15, 0))))
    assert explained(original, tint) == explained(tint, original) == "colour"
    assert same_frame(original, tint, dataclasses.replace(RULES, max_cast=float("inf")))
    assert cast(original, tint) > RULES.max_cast
    for edit in BENIGN.values():
        copy = frame_of(edit(im))
        assert same_frame(original, copy)
        if copy.aspect == original.aspect:
            assert cast(original, copy) < 2


def test_a_black_frame_round_a_faint_sky_is_a_frame():
    """A night sky's edge lines vary only faintly along them (a star here and there, the sky's noise): under
    `edge_varies`, which a plain frame's test asks of a picture's edge. A black frame round it all round is
    flatter still on every side, and counts (`edge_faint`, `frame_flatter`); a plain strip on one side only
    next to such an edge (a dark sky cut by 6 %) stays no bar."""
    sky = star_field(0)
    framed = frame_of(jpeg(ImageOps.expand(sky, border=round(0.04 * sky.width), fill="black")))
    rim = frame_of(jpeg(sky)).rim.copy()
    rim[:, 1, :] = 0.05  # every edge line of the sky varies by 0.05 of its contrast
    faint = dataclasses.replace(frame_of(jpeg(sky)), rim=rim)
    window = next(unit for _, src, _, unit in aligned(framed, faint, RULES.max_trim) if src is framed)
    assert float(framed.rim[:, 1, :3].max()) < RULES.frame_flatter * 0.05  # the frame's lines: flat
    assert plain_frame(framed, faint, window)
    assert not plain_frame(framed, faint, window, dataclasses.replace(RULES, edge_faint=1.0))  # edge_varies alone
    one_side = window.copy()  # the window flush with the top, bottom and right: the frame's left band alone
    one_side[0] = [1 - window[0, 2], 0, window[0, 2]]
    one_side[1] = [0, 1, 0]
    assert not plain_frame(framed, faint, one_side)


def test_tied_tones_rank_alike_whatever_sort_numpy_dispatches_to():
    """Tone matching ranks a picture's softened values, and a flat sky or a white background ties thousands of
    them. The ranks of ties must not depend on the CPU: numpy's default argsort takes them in another order with
    AVX-512 than without, so two workers on different machines could label one pair apart."""
    import subprocess
    import sys

    script = ("import numpy as np, sys; from neardup.encoder.frame.compare import _matched; "
              "rng = np.random.default_rng(0); x = (rng.integers(0, 4, (64, 64)) * 60).astype(np.float32); "
              "sys.stdout.write(_matched(x, np.sort(rng.random(x.size)).astype(np.float32)).tobytes().hex())")
    orders = {subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                             env={**os.environ, "NPY_DISABLE_CPU_FEATURES": disabled}).stdout
              for disabled in ("", "X86_V4 AVX512_ICL AVX512_SKX")}
    assert len(orders) == 1


def test_rank_order_is_the_stable_argsort():
    """rank_order() is numpy's stable argsort, faster: over ties, negative values (chroma), -0.0 beside 0.0 and
    smooth pictures."""
    from neardup.encoder.frame.signature import rank_order

    rng = np.random.default_rng(0)
    smooth = cv2.GaussianBlur(cv2.resize(rng.random((16, 16)).astype(np.float32) * 255, (128, 128)), (0, 0), 1.0)
    tied = np.round(rng.normal(0, 3, (64, 64))).astype(np.float32)
    tied[::7, ::5] = -0.0
    for values in (smooth, tied, np.zeros((8, 8), np.float32)):
        assert np.array_equal(rank_order(values), np.argsort(values, axis=None, kind="stable"))


@pytest.mark.parametrize("name", ["coins", "orange", "astronaut"])
def test_a_caption_on_a_strip_of_the_picture_s_own_background_is_a_match(name):
    """A caption written on a white strip added above a product shot on white: the strip is like the picture's
    edge, so no bar by its level, but its writing stops at the strip, where a trim's band continues into the
    picture. Trimmed by as much, the shot is a duplicate, and so is a star field (its stars are dots, not words)."""
    im = Image.new("RGB", (600, 400), (255, 255, 255))
    im.paste(sample(name).resize((480, 250)), (60, 90))
    captioned = with_bar(im, 0.06, (255, 255, 255), "when the code works")
    assert explained(frame_of(jpeg(im)), frame_of(jpeg(captioned))) == "frame"
    assert same_frame(frame_of(jpeg(im)), frame_of(jpeg(im.crop((0, 24, 600, 400)))))
    sky = star_field(1, stars=1600)
    assert same_frame(frame_of(jpeg(sky)), frame_of(jpeg(sky.crop((0, 30, 512, 512)))))


def test_heavy_noise_is_a_match_while_grain_and_a_noisy_photo_smoothed_stay_duplicates():
    """Noise of sigma 20 raises the floor of the flattest blocks, which the sharpness measure alone (more detail
    is never a blur) misses in many photos: of the bundled samples' 14 photos (grainy themselves), 9 such copies
    are matches (5 without the noise floor), 4 for their noise alone. Grain of sigma 3 stays a duplicate, and
    a slightly blurred, halved or heavily compressed copy of a photo, whose own grain that took away, is not
    told noisy."""
    photos = every_sample()
    matched = by_noise = 0
    for im in photos:
        original = frame_of(jpeg(im))
        why = difference(original, frame_of(jpeg(noisy(im, 20))))
        matched += why is not None
        by_noise += why == "noise"
        assert same_frame(original, frame_of(jpeg(noisy(im, 3))))
        for smoothed in (im.filter(ImageFilter.GaussianBlur(0.8)), im.resize((im.width // 2, im.height // 2), Image.LANCZOS)):
            assert difference(original, frame_of(jpeg(smoothed))) != "noise"
        assert difference(original, frame_of(jpeg(im, 10))) != "noise"
    assert matched >= 9 and by_noise >= 4, (matched, by_noise)


@pytest.mark.parametrize("name", ["astronaut", "china", "moon"])
def test_a_refinement_that_fits_worse_than_the_pictures_as_they_are_is_left(monkeypatch, name):
    """The refinement of an alignment (ECC on the 64-px gray pictures) can drift: along the long side of a tall
    picture squashed to 64 px it stretched a brightened copy's alignment with a heavily compressed copy by 1.2 %, and the
    128-px overlay test then saw every edge as an overlay. Where the pictures as they are fit the grids better
    than the refinement does, they are compared as they are; a drift that fits worse is then harmless."""
    from neardup.encoder.frame import check

    drift = np.float32([[0.975, 0, 0.012], [0, 1.025, -0.012]])
    im = sample(name)
    brighter, compressed = frame_of(jpeg(ImageEnhance.Brightness(im).enhance(1.25))), frame_of(jpeg(im, 60))
    assert same_frame(brighter, compressed)
    monkeypatch.setattr(check, "refined", lambda *args, **kwargs: drift.copy())
    assert same_frame(brighter, compressed)


@pytest.mark.parametrize("name", ["apple", "orange", "left", "rocket"])
def test_a_vignette_is_a_match_by_its_corners_while_benign_copies_keep_their_proportions(name):
    """Corners darkened by 20 % pass every other test on these photos (the grids fit within their residual); the
    brightness ratio of the two pictures, tones matched, falls from the centre to the corners. A brightened, a
    gamma-adjusted, a halved and a trimmed copy keep it level, whatever they do to the tones."""
    from bench.edits import vignette

    im = sample(name)
    original = frame_of(jpeg(im, 90))
    vignetted = frame_of(jpeg(vignette(im, 0.2)))
    assert difference(original, vignetted) == "vignette" and WHY["vignette"]
    assert same_frame(original, vignetted, dataclasses.replace(RULES, max_vignette=float("inf")))
    w, h = im.size
    for copy in (ImageEnhance.Brightness(im).enhance(1.2), im.point(lambda v: round(255 * (v / 255) ** 0.85)),
                 im.resize((w // 2, h // 2), Image.LANCZOS), im.crop((w // 25, h // 25, w - w // 25, h - h // 25))):
        assert same_frame(original, frame_of(jpeg(copy)))
