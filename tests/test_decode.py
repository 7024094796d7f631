"""Decoding: every mode users upload, and every failure with its one-line reason."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from bench.colour_profiles import GRAY, PRESS, gray_profile, in_space, tagged
from neardup.encoder.decode import (
    SHARP_SIDE,
    SIGNED_HIGH,
    decode,
    draft_box,
    draft_scale,
    find_images,
    needs_bytes,
    open_image,
    read_bytes,
    signature_and_preview,
    signed_decode,
)
from neardup.encoder.frame.signature import HIGH_SIDES, gray_of
from neardup.errors import DecodeError
from tests.badfiles import make_bad_files
from tests.conftest import SAMPLES, sample_paths


def encode(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


@pytest.fixture
def photo() -> Image.Image:
    return Image.open(sample_paths()[0]).convert("RGB")


@pytest.fixture
def colourful() -> Image.Image:
    """A photo of saturated colours, which a colour space read as another moves most."""
    return Image.open(SAMPLES / "opencv_orange.jpg").convert("RGB")


def test_jpeg_draft_keeps_full_size_and_content(photo):
    dec = decode(encode(photo, "JPEG", quality=90), 64)
    assert dec.pixels.shape == (64, 64, 3) and dec.pixels.dtype == np.uint8
    assert (dec.width, dec.height) == photo.size
    ref = np.asarray(photo.resize((64, 64), Image.BILINEAR), np.float32)
    assert np.abs(dec.pixels.astype(np.float32) - ref).mean() < 12


@pytest.mark.parametrize("size", [(2304, 1728), (1024, 683), (640, 480), (300, 200), (3000, 800), (700, 2600)])
@pytest.mark.parametrize("request_", [dict(draft_to=160, min_long=SHARP_SIDE), dict(min_long=SHARP_SIDE),
                                      dict(draft_to=384, keep_aspect=True), dict(draft_to=64)])
def test_the_draft_scale_is_the_one_pillow_decodes_at(photo, size, request_):
    """draft_scale() predicts the size a JPEG draft decode comes out at: what decides whether a scan's decode
    can stand in for the signature's own."""
    im, _ = open_image(encode(photo.resize(size), "JPEG", quality=80), **request_)
    scale = draft_scale(size, draft_box(size, **request_))
    assert im.size == (-(-size[0] // scale), -(-size[1] // scale))


@pytest.mark.parametrize("fmt", ["MPO", "PNG", "WEBP", "TIFF"])
def test_a_4_mp_picture_in_any_format_is_decoded_small(photo, fmt):
    """A camera's MPO (a JPEG with more pictures after it) is draft-decoded as a JPEG is; a format no draft
    shrinks is decoded whole, then reduced alike, to no less than 512 px, with the same colours."""
    big = photo.resize((2304, 1728))
    data = encode(big, fmt, **({"save_all": True, "append_images": [big]} if fmt == "MPO" else {}))
    im, full = open_image(data, draft_to=160, min_long=SHARP_SIDE)
    assert full == (2304, 1728) and im.size == ((288, 216) if fmt == "MPO" else (576, 432))
    reference = np.asarray(big.resize(im.size, Image.BOX), int)
    assert np.abs(np.asarray(im, int) - reference).mean() < (3 if fmt == "MPO" else 1.5)


@pytest.mark.parametrize("size", [(2304, 1728), (1024, 683), (640, 480), (3000, 800)])
@pytest.mark.parametrize("form", ["JPEG", "JPEG turned by EXIF", "PNG"])
def test_a_kept_decode_signs_as_the_file_does(photo, size, form):
    """decode(keep=True) keeps the decode where the signature's own would be the same, and the signature and
    preview made from it equal those made from the bytes, EXIF-turned or not; a very wide JPEG keeps none (the
    encoder's draft of it is the larger); a PNG, decoded whole, is reduced alike for both, to at least 512 px."""
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise on display
    data = encode(photo.resize(size), "PNG") if form == "PNG" else encode(
        photo.resize(size), "JPEG", quality=85, **({"exif": exif} if "EXIF" in form else {}))
    kept = decode(data, 80, keep=True).kept
    assert decode(data, 80).kept is None
    if size == (3000, 800) and form != "PNG":
        assert kept is None
        return
    if form == "PNG":  # a 4 MP PNG kept at 576 px, not whole: 1 MB of the scan's kept decodes, not 16
        assert max(kept.image.size) == {2304: 576, 3000: 750, 1024: 512, 640: 640}[max(size)]
    # a JPEG drafted under 512 px (a 640-px one to 320, a 4 MP one to 288) is decoded again for its detail above
    #   256 px; a PNG's decode reaches it
    assert needs_bytes(kept) == (form != "PNG" and size in ((640, 480), (2304, 1728)))
    frame, preview = signed_decode(kept, 160, data if needs_bytes(kept) else None)
    ref_frame, ref_preview = signature_and_preview(data, 160)
    assert frame.to_bytes() == ref_frame.to_bytes() and preview == ref_preview
    assert [side for side, _ in frame.high] == [s for s in HIGH_SIDES if s > SHARP_SIDE]


@pytest.mark.parametrize("form", ["JPEG", "JPEG turned by EXIF", "JPEG in Display P3", "CMYK JPEG", "PNG"])
def test_the_luma_decode_of_a_plain_jpeg_is_its_gray_picture(photo, form):
    """The decode a signature measures the detail above 256 px on (open_image(luma=True)): a JPEG that embeds no
    profile is drafted in gray, to the gray levels of its RGB decode within one, turned by its EXIF orientation
    alike; a JPEG with a profile (its colours converted to sRGB first), a CMYK one and other formats come as
    their RGB decode."""
    exif = Image.Exif()
    exif[0x0112] = 6
    big = photo.resize((2304, 1728))
    data = {"JPEG": lambda: encode(big, "JPEG", quality=85),
            "JPEG turned by EXIF": lambda: encode(big, "JPEG", quality=85, exif=exif),
            "JPEG in Display P3": lambda: tagged(big, "Display P3"),
            "CMYK JPEG": lambda: encode(big.convert("CMYK"), "JPEG", quality=90),
            "PNG": lambda: encode(big, "PNG")}[form]()
    rgb = open_image(data, **SIGNED_HIGH)[0]
    found = open_image(data, luma=True, **SIGNED_HIGH)[0]
    if form in ("JPEG", "JPEG turned by EXIF"):
        found = np.asarray(found)
        assert found.ndim == 2 and found.shape == (rgb.height, rgb.width)
        assert np.abs(found.astype(int) - gray_of(rgb).astype(int)).max() <= 1
        assert (found.shape[0] > found.shape[1]) == ("EXIF" in form)
    else:
        assert np.array_equal(np.asarray(found), np.asarray(rgb))


@pytest.mark.parametrize("mode", ["CMYK", "P", "L", "LA", "RGBA", "I;16", "1"])
def test_every_mode_becomes_rgb(photo, mode):
    im = photo.convert(mode) if mode != "I;16" else Image.fromarray(
        (np.asarray(photo.convert("L"), np.uint16) * 257).astype("<u2"))
    fmt = "TIFF" if mode in ("CMYK", "I;16") else "PNG"
    dec = decode(encode(im, fmt), 32)
    assert dec.pixels.shape == (32, 32, 3)
    assert 20 < dec.pixels.mean() < 235, "16-bit and CMYK must not come out black or white"


def test_transparent_png_composited_on_white():
    im = Image.new("RGBA", (40, 40), (255, 0, 0, 0))
    dec = decode(encode(im, "PNG"), 16)
    assert dec.pixels.min() == 255


def test_exif_rotation_applied(photo):
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise on display
    dec = decode(encode(photo, "JPEG", exif=exif), 32)
    assert (dec.width, dec.height) == (photo.height, photo.width)
    upright = decode(encode(photo.transpose(Image.ROTATE_270), "JPEG"), 32)
    assert np.abs(dec.pixels.astype(int) - upright.pixels.astype(int)).mean() < 12


def test_gif_first_frame_and_webp(photo):
    frames = [photo.resize((50, 40)), Image.new("RGB", (50, 40), "blue")]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:])
    assert decode(buf.getvalue(), 16).pixels[..., 2].mean() < 200  # not the blue second frame
    assert decode(encode(photo, "WEBP"), 16).pixels.shape == (16, 16, 3)


def test_heic_photos_decode_upright_and_are_found_as_duplicates(photo, tmp_path):
    """A phone's HEIC photo (the `heif` extra, which tests install): decoded as its JPEG is, its orientation
    applied once, found in a folder and labelled a duplicate of the same photo as a JPEG."""
    from neardup.config import Settings
    from neardup.pipeline.scan import Scanner

    pytest.importorskip("pillow_heif")
    exif = Image.Exif()
    exif[0x0112] = 6
    turned = decode(encode(photo, "HEIF", quality=90, exif=exif.tobytes()), 32)
    assert (turned.width, turned.height) == (photo.height, photo.width)
    upright = decode(encode(photo.transpose(Image.ROTATE_270), "JPEG", quality=90), 32)
    assert np.abs(turned.pixels.astype(int) - upright.pixels.astype(int)).mean() < 12
    folder = tmp_path / "phone"
    folder.mkdir()
    photo.save(folder / "photo.jpg", quality=90)
    (folder / "IMG_0001.HEIC").write_bytes(encode(photo, "HEIF", quality=85))
    res = Scanner(Settings(data_dir=str(tmp_path / "data"), decode_threads=2)).scan(str(folder))
    assert not res.failed and [(res.rel(a), res.rel(b), label) for a, b, _, label in res.pairs] in (
        [("photo.jpg", "IMG_0001.HEIC", "duplicate")], [("IMG_0001.HEIC", "photo.jpg", "duplicate")])


def test_a_heic_photo_without_the_heif_extra_fails_saying_what_reads_it(photo, tmp_path):
    """Where pillow-heif is not installed, a HEIC file fails with the extra to install, not as a non-image."""
    import subprocess
    import sys

    pytest.importorskip("pillow_heif")
    for name, data in (("small.heic", encode(photo.resize((64, 48)), "HEIF")), ("large.heic", encode(photo, "HEIF", quality=100))):
        (tmp_path / name).write_bytes(data)
    code = ("import sys; sys.modules['pillow_heif'] = None\n"
            "from neardup.encoder.decode import decode, read_bytes\n"
            "from neardup.errors import DecodeError\n"
            "for name in sys.argv[1:]:\n"
            "    try:\n"
            "        decode(read_bytes(name), 32)\n"
            "    except DecodeError as exc:\n"
            "        print(exc)\n")
    out = subprocess.run([sys.executable, "-c", code, *(str(tmp_path / n) for n in ("small.heic", "large.heic"))],
                         capture_output=True, text=True, check=True).stdout.splitlines()
    assert out == ["HEIC/HEIF image: reading it needs the heif extra (pip install 'neardup[heif]')"] * 2


def test_bad_files_each_fail_with_their_reason(tmp_path):
    cases = make_bad_files(tmp_path / "bad", sample_paths()[0])
    for path, expect in cases.items():
        if "symlink" in expect:
            continue  # reported by the directory walk
        with pytest.raises(DecodeError) as err:
            decode(read_bytes(path), 32)
        assert expect in str(err.value), (path, str(err.value))
    with pytest.raises(DecodeError, match="not found"):
        decode(read_bytes(str(tmp_path / "missing.jpg")), 32)


def test_walk_survives_loops_and_reports_broken_links(tmp_path):
    cases = make_bad_files(tmp_path / "bad", sample_paths()[0])
    found, failed = find_images(str(tmp_path))
    assert {p for p, _ in failed} == {p for p, e in cases.items() if "symlink" in e}
    walked = [p for p, e in cases.items() if "symlink" not in e]
    assert sorted(found) == sorted(walked)  # every other file once, nothing through the loop twice


def test_reading_a_file_costs_its_size_in_memory_not_the_limit(tmp_path):
    """A read up to the size limit (512 MB) would set aside that much for every file: the file's own size is
    read."""
    import tracemalloc

    from neardup.encoder.decode import read_bytes

    path = tmp_path / "p.png"  # noise: larger than the header read first
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (400, 400, 3), dtype=np.uint8)).save(path)
    tracemalloc.start()
    try:
        data = read_bytes(str(path))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert data == path.read_bytes()
    assert peak < 4 * len(data) + (1 << 20), peak


@pytest.mark.parametrize("space", ["Display P3", "Adobe RGB (1998)"])
@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "HEIF"])
def test_a_photo_in_another_colour_space_decodes_to_its_srgb_colours(space, fmt, colourful):
    """A phone's Display P3 photo, a camera's Adobe RGB one, its profile embedded: decoded to the colours the
    sRGB photo has, where the numbers as stored are several levels off (less colourful)."""
    if fmt == "HEIF":
        pytest.importorskip("pillow_heif")
    options = {} if fmt == "PNG" else {"quality": 90}
    data = tagged(colourful, space, fmt, **options)
    original = np.asarray(open_image(encode(colourful, fmt, **options))[0], int)
    stored = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), int)
    assert np.abs(np.asarray(open_image(data)[0], int) - original).mean() < 1.5 < 5 < np.abs(stored - original).mean()


@pytest.mark.parametrize("profile", ["sRGB", "sRGB gray", "unreadable", "Lab"])
def test_a_profile_that_changes_nothing_or_cannot_be_used_leaves_the_pixels_as_stored(photo, profile):
    """sRGB's own profile (most tagged photos; its gray for a grayscale picture), bytes that are no profile, a
    profile of another colour space than the picture's: decoded as the untagged file is, without an error, and
    no transform is made or run for them."""
    from PIL import ImageCms

    from neardup.encoder.colour import _to_srgb

    icc = {"sRGB": ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes(), "unreadable": b"\0" * 300,
           "Lab": ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes(),
           "sRGB gray": gray_profile(None)}[profile]
    picture = photo.convert("L") if profile == "sRGB gray" else photo
    assert _to_srgb(icc, picture.mode) is None
    plain = open_image(encode(picture, "JPEG", quality=90))[0]
    assert np.array_equal(np.asarray(open_image(encode(picture, "JPEG", quality=90, icc_profile=icc))[0]),
                          np.asarray(plain))


def test_a_phone_s_display_p3_photo_and_the_site_s_srgb_copy_are_duplicates(tmp_path, colourful):
    """The photo as a site stores it (sRGB) and as the phone saved it (Display P3, profile embedded): one
    picture, labelled a duplicate; read as stored, the phone's copy is less colourful and was a match."""
    from neardup.config import Settings
    from neardup.pipeline.scan import Scanner

    folder = tmp_path / "uploads"
    folder.mkdir()
    colourful.save(folder / "photo.jpg", quality=90)
    (folder / "IMG_0002.jpg").write_bytes(tagged(colourful, "Display P3"))
    res = Scanner(Settings(data_dir=str(tmp_path / "data"), decode_threads=2)).scan(str(folder))
    assert not res.failed and [(res.rel(a), res.rel(b), label) for a, b, _, label in res.pairs] in (
        [("photo.jpg", "IMG_0002.jpg", "duplicate")], [("IMG_0002.jpg", "photo.jpg", "duplicate")])


@pytest.mark.parametrize("space,fmt", [(PRESS, "JPEG"), (PRESS, "TIFF"), (GRAY, "JPEG"), (GRAY, "PNG")])
def test_a_print_workflow_s_picture_decodes_by_its_profile(space, fmt, colourful):
    """A CMYK picture tagged with its press's profile, a grayscale one with its ink's (dots that spread on paper,
    as Photoshop tags grayscale scans): decoded to the colours of the sRGB picture it was made from, where its
    numbers read without the profile are tens of levels too light."""
    picture = colourful if space == PRESS else colourful.convert("L").convert("RGB")
    data = tagged(picture, space, fmt, **({"quality": 95} if fmt == "JPEG" else {}))
    stored = Image.open(io.BytesIO(data))
    assert stored.mode == ("CMYK" if space == PRESS else "L")
    original = np.asarray(picture, int)
    assert np.abs(np.asarray(open_image(data)[0], int) - original).mean() < 4 < 15 < np.abs(
        np.asarray(stored.convert("RGB"), int) - original).mean()


@pytest.mark.parametrize("primaries", [12, 1])
def test_a_heif_photo_whose_colour_description_names_display_p3_decodes_to_its_srgb_colours(colourful, primaries):
    """A HEIF photo described by nclx codes, without a profile: P3 primaries (12) with sRGB's tone curve decode
    to the sRGB photo's colours; BT.709's primaries (1) are sRGB's, and the numbers are left as stored."""
    pytest.importorskip("pillow_heif")
    pixels, _ = in_space(colourful, "Display P3")
    pixels.info.pop("icc_profile", None)  # the conversion's output profile, which pillow-heif would embed
    nclx = {"color_primaries": primaries, "transfer_characteristics": 13, "matrix_coefficients": 6,
            "full_range_flag": 1}
    data = encode(pixels, "HEIF", quality=90, nclx_profile=nclx)
    original = np.asarray(open_image(encode(colourful, "HEIF", quality=90))[0], int)
    error = np.abs(np.asarray(open_image(data)[0], int) - original).mean()
    assert error < 1.5 if primaries == 12 else error > 5
