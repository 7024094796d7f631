"""A photo re-expressed in a colour space other than sRGB, its profile embedded: the copy a phone (Display P3), a
camera's export (Adobe RGB) or a print workflow (a press's CMYK, a grayscale ink) makes of a picture a site
stores as sRGB. The RGB profiles are neardup's own (`encoder/icc.py`); the press's and the gray ink's are written
here, with its writer, since no profile file ships with Pillow."""
from __future__ import annotations

import functools
import io
import struct

import numpy as np
from PIL import Image, ImageCms

from neardup.encoder.colour import SRGB
from neardup.encoder.icc import D50, SRGB_CURVE, curve, profile, profile_bytes, s15

GRAY = "Dot Gain 20 %"  # gray_profile()'s space: a grayscale picture's ink, as Photoshop tags grayscale files
PRESS = "press CMYK"  # press_profile()'s space: CMYK inks whose dots spread on paper, as a print workflow's CMYK
#   files are tagged with (U.S. Web Coated and its kin are not redistributable); read without it, too light
DOT_GAIN = 1.4  # an ink's printed share is its stored share to the power 1 / DOT_GAIN
SRGB_TO_XYZ_D50 = np.array([(0.4360747, 0.3850649, 0.1430804), (0.2225045, 0.7168786, 0.0606169),
                            (0.0139322, 0.0971045, 0.7141733)])


def in_space(im: Image.Image, name: str) -> tuple[Image.Image, bytes]:
    """The sRGB picture `im` re-expressed in the colour space `name` (one of `encoder/icc.py`'s SPACES; PRESS: CMYK
    inks; GRAY: gray), whose numbers change where the colours they stand for do not (within that space's gamut),
    and the profile to embed with it."""
    make, mode = {PRESS: (press_profile, "CMYK"), GRAY: (gray_profile, "L")}.get(name, (lambda: profile(name), "RGB"))
    icc = make()
    return ImageCms.profileToProfile(im.convert("RGB"), SRGB, ImageCms.ImageCmsProfile(io.BytesIO(icc)),
                                     outputMode=mode), icc


def tagged(im: Image.Image, name: str, fmt: str = "JPEG", **options) -> bytes:
    """A file of `im` re-expressed in the colour space `name`, its profile embedded (JPEG q90 unless told)."""
    pixels, icc = in_space(im, name)
    buf = io.BytesIO()
    pixels.save(buf, fmt, icc_profile=icc, **({"quality": 90} if fmt == "JPEG" and not options else options))
    return buf.getvalue()


def gray_profile(gain: float | None = 0.2) -> bytes:
    """An ICC v2 gray profile of ink whose dots spread by `gain` at 50 % (a 50 % dot prints as 50 % + gain):
    the luminance of a gray level v (0..1, white 1) is one minus its ink's printed share. None: sRGB's gray."""
    if gain is None:
        return profile_bytes(b"mntrGRAYXYZ ", "sRGB gray", [(b"kTRC", curve(SRGB_CURVE))])
    ink = 1 - np.linspace(0, 1, 256)
    luminance = 1 - (ink + 4 * gain * ink * (1 - ink))
    return profile_bytes(b"mntrGRAYXYZ ", GRAY, [(b"kTRC", b"curv\0\0\0\0" + struct.pack(">I", 256) + _u16(luminance))])


@functools.lru_cache(maxsize=1)
def press_profile(grid: int = 9, lab_grid: int = 49) -> bytes:
    """An ICC v2 output profile of the press: CMYK to Lab (A2B0: the dot gain on the input curves, the inks'
    printed shares to Lab on the grid) and Lab to CMYK (B2A0: printed shares, black as much as the darkest
    channel allows, the dot gain undone on the output curves)."""
    printed = _grid(grid, 4)
    to_lab = _encoded_lab(_lab((1 - printed[:, :3]) * (1 - printed[:, 3:])))
    rgb = _srgb(_decoded_lab(_grid(lab_grid, 3)))
    k = 1 - rgb.max(axis=1, keepdims=True)
    inks = np.concatenate([np.where(k < 1, (1 - rgb - k) / np.maximum(1 - k, 1e-9), 0), k], 1)
    return profile_bytes(b"prtrCMYKLab ", "neardup test press", [
        (b"A2B0", _lut16(grid, to_lab, curve_in=lambda x: x ** (1 / DOT_GAIN))),
        (b"B2A0", _lut16(lab_grid, inks, curve_out=lambda x: x ** DOT_GAIN))])


def _lut16(grid: int, table: np.ndarray, curve_in=None, curve_out=None) -> bytes:
    """A lut16Type: a curve on each input, a CLUT of `grid` points a side (`table`: the grid's points, the first
    input varying slowest, by outputs, 0..1), a curve on each output; curves of 0..1 over 0..1, 256 entries,
    identity where not given."""
    inputs, outputs = round(np.log(len(table)) / np.log(grid)), table.shape[-1]
    levels = np.linspace(0, 1, 256)

    def curves(f, n) -> bytes:
        return _u16(np.tile(f(levels) if f else levels, n))

    return (b"mft2\0\0\0\0" + struct.pack(">BBBB", inputs, outputs, grid, 0)
            + b"".join(s15(v) for v in (1, 0, 0, 0, 1, 0, 0, 0, 1)) + struct.pack(">HH", 256, 256)
            + curves(curve_in, inputs) + _u16(table) + curves(curve_out, outputs))


def _u16(values: np.ndarray) -> bytes:
    return np.round(np.clip(values, 0, 1) * 65535).astype(">u2").tobytes()


def _grid(points: int, dims: int) -> np.ndarray:
    """The points of a CLUT's grid, 0..1, the first dimension varying slowest: (points ** dims, dims)."""
    steps = np.linspace(0, 1, points)
    return np.stack(np.meshgrid(*[steps] * dims, indexing="ij"), -1).reshape(-1, dims)


def _encoded_lab(lab: np.ndarray) -> np.ndarray:
    """Lab as a version-2 lut16 holds it, 0..1: L 0..100 over 0..0xFF00, a and b -128..128 over 0..0xFFFF."""
    return np.stack([lab[..., 0] / 100 * 0xFF00, (lab[..., 1] + 128) * 256, (lab[..., 2] + 128) * 256], -1) / 65535


def _decoded_lab(encoded: np.ndarray) -> np.ndarray:
    """_encoded_lab() undone."""
    v = encoded * 65535
    return np.stack([v[..., 0] * 100 / 0xFF00, v[..., 1] / 256 - 128, v[..., 2] / 256 - 128], -1)


def _lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB (0..1, ... x 3) to CIE Lab under D50, the ICC's connection space."""
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    xyz = linear @ SRGB_TO_XYZ_D50.T / np.asarray(D50)
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], -1)


def _srgb(lab: np.ndarray) -> np.ndarray:
    """CIE Lab under D50 to sRGB (0..1, clipped)."""
    fy = (lab[..., 0] + 16) / 116
    f = np.stack([fy + lab[..., 1] / 500, fy, fy - lab[..., 2] / 200], -1)
    xyz = np.where(f > 6 / 29, f ** 3, 3 * (6 / 29) ** 2 * (f - 4 / 29)) * np.asarray(D50)
    linear = np.clip(xyz @ np.linalg.inv(SRGB_TO_XYZ_D50).T, 0, 1)
    return np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * linear ** (1 / 2.4) - 0.055)
