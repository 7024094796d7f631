"""A picture set in a plain canvas (a phone's screenshot, letterbox and pillarbox bars, a plain frame) is embedded
by the picture alone, and every other picture whole."""
from __future__ import annotations

import numpy as np
from PIL import Image

from bench.edits import PAGE, PHONE, encoded, on_screen
from neardup.encoder import artifact
from neardup.encoder.canvas import picture_box
from neardup.encoder.decode import decode, open_image
from neardup.encoder.frame import SHARP_SIDE
from neardup.pipeline.scan import Scanner
from tests.conftest import sample_paths


def screenshot(im: Image.Image) -> Image.Image:
    """A phone's screenshot of a photo: the photo across the screen's width, black above and below, the clock and
    the battery in the status bar."""
    return on_screen(im, PHONE, (0, 0, 0), status=True)


def expected_box(im: Image.Image, screen: tuple[int, int], share: float, decode: Image.Image) -> np.ndarray:
    """Where on_screen() puts the picture, in the decode's pixels."""
    k = min(screen[0] * share / im.width, screen[1] * share / im.height)
    width, height = round(im.width * k), round(im.height * k)
    left, top = (screen[0] - width) // 2, (screen[1] - height) // 2
    return np.array([left, top, left + width, top + height]) * decode.width / screen[0]


def decoded(im: Image.Image) -> Image.Image:
    """The decode an 80-px encoder's input is made from (encoder/decode.py decode)."""
    return open_image(encoded(im, quality=90), draft_to=2 * 80, min_long=SHARP_SIDE)[0]


def test_a_photo_s_screenshot_and_a_page_showing_it_give_the_photo_s_box_and_the_photo_none():
    """Every sample photo in a phone's screenshot, and nearly every one on a white page (whose margins run on into
    a photo white at its edge, where there is no edge to find), gives the box it is shown in."""
    pages = 0
    for path in sample_paths():
        im = Image.open(path).convert("RGB")
        assert picture_box(decoded(im)) is None, path.name
        for screen, fill, status, share in ((PHONE, (0, 0, 0), True, 1.0), (PAGE, (255, 255, 255), False, 0.6)):
            shown = decoded(on_screen(im, screen, fill, status=status, share=share))
            box = picture_box(shown)
            assert box is not None or screen == PAGE, path.name
            if box is not None:
                assert np.abs(np.array(box) - expected_box(im, screen, share, shown)).max() <= 2, (path.name, box)
                pages += screen == PAGE
    assert pages >= len(sample_paths()) - 2


def test_pictures_without_a_canvas_get_none():
    """A plain colour, a picture too small, a dark picture fading into black (a galaxy: no abrupt edge), a plain
    frame too thin, bars on one side only."""
    y, x = np.mgrid[0:256, 0:256]
    galaxy = (255 * np.exp(-((x - 128) ** 2 + (y - 128) ** 2) / (2 * 40.0 ** 2)))[..., None].repeat(3, 2)
    photo = Image.open(sample_paths()[0]).convert("RGB").resize((240, 180))
    thin = Image.new("RGB", (248, 188), (0, 0, 0))
    thin.paste(photo, (4, 4))
    one_side = Image.new("RGB", (240, 260), (0, 0, 0))
    one_side.paste(photo, (0, 80))
    for im in (Image.new("RGB", (300, 200), (40, 90, 200)), Image.new("RGB", (10, 10)),
               Image.fromarray(galaxy.astype(np.uint8)), thin, one_side):
        assert picture_box(decoded(im)) is None


def test_the_default_encoder_gives_a_screenshot_the_vector_of_its_photo():
    """Squashed whole, a screenshot shows its photo as a thin strip; boxed, it embeds within the match distance
    of the photo, which the whole screenshot does not come near."""
    enc = artifact.Encoder()
    assert enc.boxed
    match = enc.info.thresholds["match"]
    boxed_near = whole_far = 0
    for path in sample_paths():
        im = Image.open(path).convert("RGB")
        photo = decode(encoded(im, quality=90), enc.size).pixels
        shot = encoded(screenshot(im), quality=90)
        vecs = enc.embed(np.stack([photo, decode(shot, enc.size, boxed=True).pixels, decode(shot, enc.size).pixels]))
        boxed, whole = np.linalg.norm(vecs[1:] - vecs[0], axis=1)
        boxed_near += boxed < 0.5 * match
        whole_far += whole > match
    assert boxed_near == len(sample_paths()) and whole_far >= len(sample_paths()) // 2


def test_a_scan_finds_a_screenshot_of_a_photo_and_labels_it_a_match(photos, settings):
    first = sorted(photos.glob("*.jpg"))[0]
    screenshot(Image.open(first)).save(photos / "screenshot.jpg", quality=85)
    res = Scanner(settings).scan(str(photos))
    labels = {frozenset((res.rel(a), res.rel(b))): label for a, b, _, label in res.pairs}
    assert labels.get(frozenset((first.name, "screenshot.jpg"))) == "match"
