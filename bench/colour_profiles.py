"""ICC profiles of the RGB colour spaces photos arrive in besides sRGB (Display P3 from phones, Adobe RGB from
cameras), written out here because no profile file ships with Pillow, and a photo re-expressed in one of them
with its profile embedded: the copy a phone or a camera's export makes of a picture a site stores as sRGB."""
from __future__ import annotations

import io
import struct

from PIL import Image, ImageCms

D50 = (0.9642, 1.0, 0.8249)
SRGB_CURVE = (2.4, 1 / 1.055, 0.055 / 1.055, 1 / 12.92, 0.04045)  # parametric curve type 3 (IEC 61966-2-1)
SPACES = {  # colorants adapted to D50 (ICC), and the tone curve: parametric (sRGB's) or a gamma
    "Display P3": (((0.5151, 0.2412, -0.0011), (0.2920, 0.6922, 0.0419), (0.1571, 0.0666, 0.7841)), SRGB_CURVE),
    "Adobe RGB (1998)": (((0.6097, 0.3111, 0.0195), (0.2053, 0.6257, 0.0609), (0.1492, 0.0632, 0.7446)), 563 / 256),
}


def _s15(v: float) -> bytes:
    return struct.pack(">i", round(v * 65536))


def _xyz(v) -> bytes:
    return b"XYZ \0\0\0\0" + b"".join(_s15(c) for c in v)


def _curve(curve) -> bytes:
    if isinstance(curve, tuple):
        return b"para\0\0\0\0" + struct.pack(">HH", 3, 0) + b"".join(_s15(c) for c in curve)
    return b"curv\0\0\0\0" + struct.pack(">IH", 1, round(curve * 256)) + b"\0\0"


def _desc(text: str) -> bytes:
    ascii_ = text.encode("ascii") + b"\0"
    return b"desc\0\0\0\0" + struct.pack(">I", len(ascii_)) + ascii_ + b"\0" * (4 + 4 + 2 + 1 + 67)


def profile(name: str) -> bytes:
    """An ICC v2 display profile (matrix and tone curves) of one of SPACES."""
    colorants, curve = SPACES[name]
    trc = _curve(curve)
    tags = [(b"desc", _desc(name)), (b"cprt", b"text\0\0\0\0No copyright, use freely\0"), (b"wtpt", _xyz(D50)),
            (b"rXYZ", _xyz(colorants[0])), (b"gXYZ", _xyz(colorants[1])), (b"bXYZ", _xyz(colorants[2])),
            (b"rTRC", trc), (b"gTRC", trc), (b"bTRC", trc)]
    table, data = [], b""
    offset = 128 + 4 + 12 * len(tags)
    for sig, body in tags:
        table.append(struct.pack(">4sII", sig, offset + len(data), len(body)))
        data += body + b"\0" * (-len(body) % 4)
    size = offset + len(data)
    header = (struct.pack(">I", size) + b"\0" * 4 + struct.pack(">I", 0x02100000) + b"mntrRGB XYZ "
              + struct.pack(">6H", 2026, 1, 1, 0, 0, 0) + b"acsp" + b"\0" * 24 + struct.pack(">I", 0)
              + b"".join(_s15(c) for c in D50) + b"\0" * 48)
    return header + struct.pack(">I", len(tags)) + b"".join(table) + data


def in_space(im: Image.Image, name: str) -> tuple[Image.Image, bytes]:
    """The sRGB picture `im` re-expressed in the colour space `name` (its numbers change, the colours they
    stand for do not, within that space's gamut), and the profile to embed with it."""
    icc = profile(name)
    target = ImageCms.ImageCmsProfile(io.BytesIO(icc))
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
    return ImageCms.profileToProfile(im.convert("RGB"), srgb, target, outputMode="RGB"), icc


def tagged(im: Image.Image, name: str, fmt: str = "JPEG", **options) -> bytes:
    """A file of `im` re-expressed in the colour space `name`, its profile embedded (JPEG q90 unless told)."""
    pixels, icc = in_space(im, name)
    buf = io.BytesIO()
    pixels.save(buf, fmt, icc_profile=icc, **({"quality": 90} if fmt == "JPEG" and not options else options))
    return buf.getvalue()
