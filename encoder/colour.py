"""Pixels in sRGB: a picture whose file embeds an ICC profile of another colour space (Display P3 from
phones, Adobe RGB from cameras, a press's CMYK or a grayscale ink's dot gain from print workflows and scans), or
names one (named_profile()), is converted to sRGB once decoded.

A site that stores photos as sRGB converts such a picture on upload: its numbers change, the colours they stand
for do not. Read as they are, the two copies differ (a Display P3 copy of a photo reads 10-20 % less colourful;
CMYK inks and gray levels read without their dot gain, tens of levels too light), enough for the same-frame
check to call a converted copy recoloured and for the embedding to move it past the duplicate threshold. Converted, both are the same sRGB picture. Untagged pictures are taken as sRGB (the web's
assumption; untagged CMYK is converted naively, as Pillow does); a profile that is sRGB's own, that LittleCMS
cannot read, or of another colour space than the picture's, leaves the numbers as they are.
"""
from __future__ import annotations

import functools
import io

import numpy as np
from PIL import Image, ImageCms

from . import icc as profiles

SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
SPACE = {"RGB": "RGB", "CMYK": "CMYK", "L": "GRAY"}  # a picture's mode: the colour space its profile must be of
_LEVELS = np.arange(0, 256, 51, dtype=np.uint8)
_PROBES = {  # the colours a profile is tried on: 216 colours, 52 grays
    "RGB": Image.fromarray(np.stack(np.meshgrid(_LEVELS, _LEVELS, _LEVELS), -1).reshape(1, -1, 3), "RGB"),
    "L": Image.fromarray(np.arange(0, 256, 5, dtype=np.uint8)[None], "L")}
SAME = 1  # a profile whose transform moves no probe colour by more than this (levels) is taken for sRGB itself
P3_PRIMARIES, DISPLAY_CURVES = 12, (1, 6, 13, 14, 15)  # ITU-T H.273 codes: P3 (D65); BT.709/601/2020, sRGB


def named_profile(im: Image.Image) -> bytes | None:
    """The profile of the colour space a picture names without embedding one, as browsers read it: Display P3
    where a HEIF picture's colour description (nclx, which pillow-heif gives and Pillow's AVIF reader does not)
    gives P3 primaries with a display's tone curve (BT.709's or sRGB's: HDR curves are another matter). EXIF's hint of Adobe RGB (colour space uncalibrated,
    interoperability index R03) is not read: browsers show such a camera JPEG as sRGB, and so does a site that
    re-encodes it without colour management."""
    nclx = im.info.get("nclx_profile")
    if isinstance(nclx, dict) and nclx.get("color_primaries") == P3_PRIMARIES and nclx.get(
            "transfer_characteristics") in DISPLAY_CURVES:
        return profiles.profile("Display P3")
    return None


def in_srgb(im: Image.Image, icc: bytes | None) -> Image.Image:
    """An RGB, CMYK or gray picture converted to sRGB (RGB) from the colour space of the ICC profile `icc` embedded
    in its file; unchanged where there is none, or it is not the picture's colour space, or it is sRGB's own."""
    transform = _to_srgb(icc, im.mode) if icc and im.mode in SPACE else None
    return ImageCms.applyTransform(im, transform) if transform is not None else im


@functools.lru_cache(maxsize=32)
def _to_srgb(icc: bytes, mode: str) -> ImageCms.ImageCmsTransform | None:
    """The transform from an embedded profile of pictures in `mode` to sRGB, made once per profile (a collection
    holds a handful); None where none is needed or none can be made. NOCACHE: LittleCMS's one-colour cache is not
    safe across the decode threads that share the transform."""
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        if source.profile.xcolor_space.strip() != SPACE[mode]:
            return None
        transform = ImageCms.buildTransform(source, SRGB, mode, "RGB", flags=ImageCms.Flags.NOCACHE)
        if mode not in _PROBES:  # CMYK: never sRGB's own
            return transform
        probe = _PROBES[mode]
        moved = np.abs(np.asarray(ImageCms.applyTransform(probe, transform), np.int16)
                       - np.asarray(probe.convert("RGB"), np.int16))
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return None
    return transform if int(moved.max()) > SAME else None
