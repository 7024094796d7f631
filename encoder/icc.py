"""ICC profiles written out: the RGB colour spaces a picture can name without embedding a profile (a phone's
Display P3, by a HEIF's colour description), which no profile file shipped with Pillow covers. The same writer
makes the test profiles of `bench/colour_profiles.py`."""
from __future__ import annotations

import functools
import struct

D50 = (0.9642, 1.0, 0.8249)  # the profile connection space's white
SRGB_CURVE = (2.4, 1 / 1.055, 0.055 / 1.055, 1 / 12.92, 0.04045)  # parametric curve type 3 (IEC 61966-2-1)
SPACES = {  # colorants adapted to D50 (ICC), and the tone curve: parametric (sRGB's) or a gamma
    "Display P3": (((0.5151, 0.2412, -0.0011), (0.2920, 0.6922, 0.0419), (0.1571, 0.0666, 0.7841)), SRGB_CURVE),
    "Adobe RGB (1998)": (((0.6097, 0.3111, 0.0195), (0.2053, 0.6257, 0.0609), (0.1492, 0.0632, 0.7446)), 563 / 256),
}


@functools.lru_cache(maxsize=None)
def profile(name: str) -> bytes:
    """An ICC v2 display profile (matrix and tone curves) of one of SPACES."""
    colorants, tone = SPACES[name]
    trc = curve(tone)
    return profile_bytes(b"mntrRGB XYZ ", name, [(b"rXYZ", xyz(colorants[0])), (b"gXYZ", xyz(colorants[1])),
                                                 (b"bXYZ", xyz(colorants[2])), (b"rTRC", trc), (b"gTRC", trc),
                                                 (b"bTRC", trc)])


def profile_bytes(kind: bytes, name: str, tags: list[tuple[bytes, bytes]]) -> bytes:
    """A profile of `kind` (device class, colour space, connection space) called `name`, with these tags besides
    its description, copyright and white point."""
    tags = [(b"desc", _desc(name)), (b"cprt", b"text\0\0\0\0No copyright, use freely\0"), (b"wtpt", xyz(D50)),
            *tags]
    table, data = [], b""
    offset = 128 + 4 + 12 * len(tags)
    for sig, body in tags:
        table.append(struct.pack(">4sII", sig, offset + len(data), len(body)))
        data += body + b"\0" * (-len(body) % 4)
    size = offset + len(data)
    header = (struct.pack(">I", size) + b"\0" * 4 + struct.pack(">I", 0x02100000) + kind
              + struct.pack(">6H", 2026, 1, 1, 0, 0, 0) + b"acsp" + b"\0" * 24 + struct.pack(">I", 0)
              + b"".join(s15(c) for c in D50) + b"\0" * 48)
    return header + struct.pack(">I", len(tags)) + b"".join(table) + data


def s15(v: float) -> bytes:
    """A number as ICC's s15Fixed16."""
    return struct.pack(">i", round(v * 65536))


def xyz(v) -> bytes:
    """An XYZType tag."""
    return b"XYZ \0\0\0\0" + b"".join(s15(c) for c in v)


def curve(tone) -> bytes:
    """A tone curve tag: parametric (type 3, five numbers) or a gamma."""
    if isinstance(tone, tuple):
        return b"para\0\0\0\0" + struct.pack(">HH", 3, 0) + b"".join(s15(c) for c in tone)
    return b"curv\0\0\0\0" + struct.pack(">IH", 1, round(tone * 256)) + b"\0\0"


def _desc(text: str) -> bytes:
    ascii_ = text.encode("ascii") + b"\0"
    return b"desc\0\0\0\0" + struct.pack(">I", len(ascii_)) + ascii_ + b"\0" * (4 + 4 + 2 + 1 + 67)
