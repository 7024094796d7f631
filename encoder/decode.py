"""Turn image bytes into the encoder's input: one decode, cheap (JPEG draft), every mode handled.

Decoding dominates CPU time, so JPEGs are asked for a DCT-downscaled decode (`Image.draft`) before any
pixel is touched. Every failure is a `DecodeError` with a one-line reason, so a batch never stops on
one bad file.
"""
from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import os
import stat
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from neardup.errors import DecodeError

from . import collage
from .canvas import picture_box
from .colour import SPACE as COLOUR_SPACES
from .colour import in_srgb, named_profile
from .frame import HIGH_SIDE, SHARP_SIDE, Frame, decodes_high, signature

try:  # HEIC/HEIF, as phones save photos, where the `heif` extra is installed (its wheels are GPLv2: optional)
    from pillow_heif import register_heif_opener
except ImportError:
    HEIF = False
else:
    register_heif_opener()
    HEIF = True

ImageFile.LOAD_TRUNCATED_IMAGES = False
MAX_PIXELS = 89_478_485  # Pillow's own decompression-bomb limit; we refuse above it instead of warning
Image.MAX_IMAGE_PIXELS = None  # we check the size ourselves, before decoding, with a clear reason

EXTENSIONS = {".jpg", ".jpeg", ".jpe", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif", ".avif", ".heic", ".heif"}
HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs", b"mif1", b"msf1"}


SIGNED = dict(min_long=SHARP_SIDE)  # the decode a same-frame signature is made from: a long side that reaches the
#   sharpness ladder's largest side (decode(keep=True) keeps the encoder's decode only where it is this one)
SIGNED_HIGH = dict(min_long=HIGH_SIDE)  # ... and, for pictures that large (decodes_high()), a second decode for the
#   detail above it


@dataclass(frozen=True)
class Kept:
    """A decode kept for the same-frame signature (signed_decode): the RGB picture and its original's size."""
    image: Image.Image
    width: int
    height: int
    cells: tuple[tuple[int, int, int, int], ...] | None = None  # its collage cells' boxes, where already found

    @property
    def nbytes(self) -> int:
        return self.image.width * self.image.height * 4  # Pillow keeps RGB in 4 bytes a pixel


@dataclass
class Decoded:
    pixels: np.ndarray  # (size, size, 3) uint8, the encoder's input
    width: int  # of the original image, after EXIF rotation
    height: int
    kept: Kept | None = None  # the decode itself, if asked and the same-frame signature's decode is the same
    cells: tuple[np.ndarray, ...] = ()  # a collage's cells (encoder/collage.py), each as the encoder's input is


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


HEADER_BYTES = 64 * 1024  # enough for any format's header, EXIF included, to be recognised


def read_bytes(path: str, max_bytes: int = 512 * 1024 * 1024) -> bytes:
    """Read an image file, turning every OS failure into a DecodeError with a plain reason.

    Only regular files are read (_regular_file). The size is checked before reading, and the header before the
    body: a large file that is no image costs one small read, not its size in memory."""
    try:
        with _regular_file(path) as (fd, st):
            if st.st_size > max_bytes:
                raise DecodeError(f"file too large ({st.st_size} bytes > {max_bytes})")
            if st.st_size == 0:
                raise DecodeError("empty file (0 bytes)")
            with os.fdopen(fd, "rb", closefd=False) as fh:
                head = fh.read(HEADER_BYTES)
                if len(head) < st.st_size:
                    _check_header(head)
                    # the size fstat gave, not max_bytes: a read of max_bytes sets aside that much memory first
                    data = head + fh.read(st.st_size - len(head))
                else:
                    data = head
    except OSError as exc:
        raise DecodeError(f"cannot read file: {exc.strerror or exc}") from None
    if not data:
        raise DecodeError("empty file (0 bytes)")
    if len(data) > max_bytes:
        raise DecodeError(f"file too large (more than {max_bytes} bytes)")
    return data


@contextlib.contextmanager
def _regular_file(path: str):
    """(descriptor, fstat) of a regular file, opened without blocking and checked on its descriptor (a FIFO,
    device or socket would block or never end; nothing swapped in after the check is read); a DecodeError
    with a plain reason otherwise."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise DecodeError("file not found (or a broken symlink)") from None
    except PermissionError:
        raise DecodeError("permission denied") from None
    except OSError as exc:
        raise DecodeError(f"cannot open file: {exc.strerror or exc}") from None
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise DecodeError("is a directory")
        if not stat.S_ISREG(st.st_mode):
            raise DecodeError(f"not a regular file ({_file_kind(st.st_mode)})")
        yield fd, st
    finally:
        os.close(fd)


def _file_kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a named pipe"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device")):
        if test(mode):
            return name
    return "not a plain file"


def _check_header(head: bytes) -> None:
    """Refuse a file whose first bytes match no image format Pillow reads (its formats' own signature
    checks: the prefix is all they look at)."""
    if not _recognised(head[:16]):
        raise DecodeError(_unrecognised(head[:16]))


def _recognised(prefix: bytes) -> bool:
    """Whether a reader Pillow has recognises these first bytes as its format (the prefix is all they look at)."""
    Image.init()
    return any(accept(prefix) for _, accept in Image.OPEN.values() if accept is not None)


def _sniffed_image(path: str) -> bool:
    """Whether a file without an extension (an upload stored under its id) begins as an image does. Only a
    regular file is read (_regular_file): a named pipe must not hold the walk."""
    try:
        with _regular_file(path) as (fd, _):
            return _recognised(os.read(fd, 16))
    except (DecodeError, OSError):
        return False


def draft_box(full: tuple[int, int], draft_to: int | None = None, keep_aspect: bool = False,
              min_long: int = 0) -> tuple[int, int] | None:
    """The least size open_image() asks a JPEG's draft decode for (None: the whole image)."""
    if not (draft_to or min_long):
        return None
    if keep_aspect and draft_to:
        fit = [max(1, draft_to * side // max(full)) for side in full]
    else:
        fit = [draft_to or 1] * 2
    return tuple(max(f, -(-min_long * side // max(full))) for f, side in zip(fit, full))


def draft_scale(full: tuple[int, int], box: tuple[int, int] | None) -> int:
    """The factor a JPEG draft decode for `box` shrinks by: Pillow's (JpegImageFile.draft), the largest of 8,
    4, 2 and 1 that leaves at least `box`. Two requests of one scale decode the same pixels."""
    if box is None:
        return 1
    most = min(full[0] // box[0], full[1] // box[1])
    return next((s for s in (8, 4, 2) if most >= s), 1)


def whole_scale(full: tuple[int, int], box: tuple[int, int] | None) -> int:
    """The factor a picture that no draft shrinks (PNG, WebP, TIFF...: decoded whole) is reduced by after its
    decode, by averages of k x k pixels: a JPEG draft's for `box`, but leaving a long side of HIGH_SIDE, the
    most any later step looks at (the same-frame check's finest detail, which a JPEG gets from a second draft
    decode; verification's keypoints). A 4 MP PNG kept whole for them holds 16 MB of a scan's kept decodes and
    makes its signature look at 4 M pixels."""
    scale = draft_scale(full, box)
    while scale > 1 and max(full) // scale < HIGH_SIDE:
        scale //= 2
    return scale


def decode_scale(data: bytes, full: tuple[int, int], box: tuple[int, int] | None) -> int:
    """The factor open_image() decodes these bytes, of a picture of `full` size, at for `box`."""
    return draft_scale(full, box) if drafted(data) else whole_scale(full, box)


def drafted(data: bytes) -> bool:
    """Whether the bytes are a JPEG (or a camera's MPO, a JPEG with more pictures after it), whose decoder scales
    by 1/2, 1/4 or 1/8 as it decodes (Image.draft): every other format is decoded whole."""
    return data[:3] == b"\xff\xd8\xff"


def _unrecognised(head: bytes) -> str:
    """The reason a file no reader recognised is refused: a HEIC/HEIF photo says what would read it."""
    if head[4:8] == b"ftyp" and head[8:12] in HEIF_BRANDS and not HEIF:
        return "HEIC/HEIF image: reading it needs the heif extra (pip install 'neardup[heif]')"
    return "not an image (unrecognised format)"


def open_image(data: bytes, draft_to: int | None = None, max_pixels: int = MAX_PIXELS,
               keep_aspect: bool = False, min_long: int = 0, luma: bool = False) -> tuple[Image.Image, tuple[int, int]]:
    """Open, refuse bombs, draft-decode JPEGs (to at least draft_to x draft_to, or with `keep_aspect` to a
    long side of at least draft_to; and to a long side of at least `min_long`) and reduce other formats
    alike (whole_scale()), apply EXIF orientation; return RGB in sRGB (converted by the file's colour profile:
    encoder/colour.py) and the full (w, h). `luma`: where only the gray picture is wanted, a JPEG in YCbCr that
    embeds no colour profile comes as its luma alone (mode L: no chroma upsampled, no colours converted; the
    gray levels of its RGB decode within one)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            im = Image.open(io.BytesIO(data))
            if im.width * im.height > max_pixels:
                raise DecodeError(f"decompression bomb refused ({im.width}x{im.height} = "
                                  f"{im.width * im.height} pixels > {max_pixels})")
            full = im.size
            box = draft_box(full, draft_to, keep_aspect, min_long)
            jpeg, scale = drafted(data), decode_scale(data, full, box)
            luma = luma and jpeg and im.mode == "RGB" and "icc_profile" not in im.info
            if jpeg and (scale > 1 or luma):
                im.draft("L" if luma else "RGB", box)
            im.load()
            loaded, icc = im.size, im.info.get("icc_profile") or named_profile(im)
            ImageOps.exif_transpose(im, in_place=True)  # not a copy of every picture that stands upright
            if im.size != loaded:  # turned by its EXIF orientation: so is the full size
                full = full[::-1]
            if luma and im.mode == "L":
                return im, full
            # a profile describes the pixels as stored: CMYK and gray converted by it, not after Pillow's own
            im = to_rgb(in_srgb(im if im.mode in COLOUR_SPACES else to_rgb(im), icc))
            return (im.reduce(scale) if scale > 1 and not jpeg else im), full
    except DecodeError:
        raise
    except UnidentifiedImageError:
        raise DecodeError(_unrecognised(data[:16])) from None
    except Image.DecompressionBombError as exc:
        raise DecodeError(f"decompression bomb refused ({exc})") from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, KeyError,
            MemoryError, ZeroDivisionError) as exc:
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "truncated" in text.lower():
            raise DecodeError(f"truncated image ({text})") from None
        raise DecodeError(f"corrupt image ({text})") from None


def to_rgb(im: Image.Image) -> Image.Image:
    """Any mode to RGB: alpha composited on white, 16-bit and float scaled, CMYK and palettes converted."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        a = np.asarray(im, dtype=np.float64)
        top = 65535.0 if im.mode.startswith("I;16") else max(float(a.max()), 1.0)
        if im.mode == "I" and a.max() <= 255:
            top = 255.0
        im = Image.fromarray(np.clip(a / top * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
    if im.mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")
    if im.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        im = im.convert("RGBA")
        white = Image.new("RGBA", im.size, (255, 255, 255, 255))
        im = Image.alpha_composite(white, im)
    return im.convert("RGB") if im.mode != "RGB" else im


def to_input(im: Image.Image, size: int, boxed: bool = False) -> np.ndarray:
    """Squash to the encoder's square input; the reducing gap keeps large downscales cheap and clean. `boxed`:
    the picture alone where a plain canvas surrounds it (encoder/canvas.py), for an encoder whose sidecar asks
    for that (ModelInfo.input)."""
    box = picture_box(im) if boxed else None
    if box is not None:
        im = im.crop(box)
    if im.size != (size, size):
        im = im.resize((size, size), Image.BILINEAR, reducing_gap=2.0)
    return np.asarray(im, dtype=np.uint8)


def decode(data: bytes, size: int, keep: bool = False, boxed: bool = False) -> Decoded:
    """Bytes to the encoder's input and the size the registry keeps. The draft decode reaches a long side of
    SHARP_SIDE (256 px) however small the encoder's input: from a 1024 x 683 photo decoded at half its size,
    not a quarter, the encoder ranks copies a little better (bench/quality.py). The bytes' content hash is the reader's
    (pipeline/embed.py read_item): hashed once. `keep`: the decode itself too, where the same-frame signature's
    own decode would give the same pixels (the same draft scale: all but very wide or tall JPEGs), so that a scan
    signs an image found in a pair without decoding its file again. `boxed`: as to_input() (the kept decode is
    the whole picture). The cells of a collage (encoder/collage.py) come as the encoder's input would, for their
    perceptual hashes."""
    asked = dict(draft_to=2 * size, min_long=SHARP_SIDE)
    im, (width, height) = open_image(data, **asked)
    full = (width, height)
    same = keep and decode_scale(data, full, draft_box(full, **asked)) == decode_scale(data, full, draft_box(full, **SIGNED))
    boxes = tuple(collage.cells(im))
    return Decoded(to_input(im, size, boxed), width, height, Kept(im, width, height, boxes) if same else None,
                   tuple(to_input(im.crop(box), size) for box in boxes))


def signature_of(data: bytes) -> Frame:
    """The same-frame check's signature (encoder/frame/signature.py) of image bytes, from a decode whose long side
    reaches the sharpness ladder's largest side. Made only for images that are in a pair (pipeline/labels.py):
    most images of a collection have no copy, and the signature costs about as much as their decode."""
    return signature_and_preview(data)[0]


def signature_and_preview(data: bytes, preview: int = 0) -> tuple[Frame, bytes | None]:
    """signature_of(), and from the same decode a JPEG preview at most `preview` pixels on its long side, if
    asked: the report shows the images that are in a pair, which are the images that get a signature."""
    im, (width, height) = open_image(data, **SIGNED)
    return signed_decode(Kept(im, width, height), preview, data)


def signed_decode(kept: Kept, preview: int = 0, data: bytes | None = None) -> tuple[Frame, bytes | None]:
    """signature_and_preview() of a decode made as its own would be (decode(keep=True)); `data`, the image's
    bytes, where the picture needs a second, larger decode for its detail above SHARP_SIDE (needs_bytes(): a
    JPEG's luma alone where it can). signature() uses that detail decode only for pictures that get the detail
    (needs_high())."""
    high = open_image(data, luma=True, **SIGNED_HIGH)[0] if needs_bytes(kept) else kept.image
    frame = signature(kept.image, kept.width, kept.height, high)
    return frame, preview_jpeg(kept.image, preview) if preview else None


def needs_bytes(kept: Kept) -> bool:
    """Whether signing this decode needs the image's bytes again: a picture whose detail above SHARP_SIDE is
    measured on a decode of its own (decodes_high()) decoded neither whole nor to a long side of HIGH_SIDE (a
    JPEG drafted to a quarter or an eighth of its size): SIGNED_HIGH."""
    longest = max(kept.image.size)
    return decodes_high(kept.width, kept.height) and longest < HIGH_SIDE and longest < max(kept.width, kept.height)


def preview_jpeg(im: Image.Image, side: int) -> bytes:
    """A small JPEG of the whole picture, its aspect kept (the report's thumbnails)."""
    small = im.copy()
    small.thumbnail((side, side), Image.BILINEAR, reducing_gap=2.0)
    buf = io.BytesIO()
    small.save(buf, "JPEG", quality=80)
    return buf.getvalue()


def no_images_text(where: str) -> str:
    """What to tell a user whose folder holds nothing find_images() takes."""
    return (f"no images under {where} (looked for {', '.join(sorted(EXTENSIONS))}, and files without an extension "
            "that begin as an image)")


def find_images(root: str) -> tuple[list[str], list[tuple[str, str]]]:
    """Every image file under root (recursive, sorted), and (path, reason) for what could not be listed.

    Image files: those with an image's extension (EXTENSIONS), and those without an extension whose first bytes
    are an image's (uploads are often stored under an id). Symlinked files are followed, symlinked directories
    are not (no loops); broken links are reported.
    """
    found, failed = [], []

    def onerror(exc: OSError):
        failed.append((exc.filename or root, f"cannot list directory: {exc.strerror or exc}"))

    if os.path.isfile(root):
        return [root], []
    if not os.path.isdir(root):
        return [], [(root, "not found")]
    for dirpath, dirnames, filenames in os.walk(root, onerror=onerror):
        dirnames.sort()
        for name in filenames:
            path = os.path.join(dirpath, name)
            extension = os.path.splitext(name)[1].lower()
            if extension not in EXTENSIONS and (extension or not _sniffed_image(path)):
                continue
            if os.path.islink(path):
                try:
                    os.stat(path)
                except OSError as exc:
                    kind = "symlink loop" if exc.errno == errno.ELOOP else "broken symlink"
                    failed.append((path, f"{kind}: {exc.strerror or exc}"))
                    continue
            found.append(path)
    return sorted(found), failed
