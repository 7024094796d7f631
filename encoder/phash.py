"""Perceptual hash (pHash, 64 bits) of the encoder's input pixels: a second, colour-blind way to propose pairs.

The CNN is colour-sensitive, so a grayscale copy can land outside an image's nearest neighbours; the DCT of
the luminance barely moves under grayscale, saturation, brightness and re-encoding (dev benchmark: every
grayscale copy within 2 bits of its original). Pairs proposed this way are only kept if verified
(pipeline/verify.py), so pHash's look-alike collisions (star fields with equal hashes) cost nothing.
"""
from __future__ import annotations

import numpy as np
from PIL import Image

KEY = "phash64"  # stored beside the encoders' vectors, keyed by content hash and this name
_N = 32
_K = np.arange(_N)
_DCT = np.cos(np.pi * (2 * _K[None, :] + 1) * _K[:, None] / (2 * _N))  # DCT-II basis (unnormalised)


def phash(pixels: np.ndarray) -> int:
    """pHash of an (H, W, 3) uint8 RGB array: the signs, against their median, of the 8x8 lowest DCT
    frequencies of its 32x32 luminance."""
    gray = np.asarray(Image.fromarray(pixels).convert("L").resize((_N, _N), Image.BOX), np.float64)
    low = (_DCT @ gray @ _DCT.T)[:8, :8]
    return int(np.packbits(low.ravel() > np.median(low)).view(">u8")[0])


def to_stored(h: int) -> np.ndarray:
    """The 8 bytes as the registry's float32 vector column holds them (a reinterpretation, not a conversion)."""
    return np.array([h], np.uint64).view(np.float32)


def from_stored(v: np.ndarray) -> int:
    return int(np.ascontiguousarray(v, np.float32).view(np.uint64)[0])


def near_pairs(ids: np.ndarray, hashes: np.ndarray, max_bits: int = 2, max_bucket: int = 64) -> set[tuple[int, int]]:
    """(low id, high id) pairs whose hashes differ in at most `max_bits` bits, without comparing all pairs:
    split the 64 bits into max_bits + 1 chunks; two hashes that close agree exactly on at least one chunk
    (pigeonhole), so only hashes sharing a chunk value are compared. Buckets over `max_bucket` (flat or
    black images, all alike) are skipped."""
    ids = np.asarray(ids, np.int64)
    hashes = np.asarray(hashes, np.uint64)
    bounds = np.linspace(0, 64, max_bits + 2).astype(int)
    found: set[tuple[int, int]] = set()
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        chunk = (hashes >> np.uint64(lo)) & np.uint64((1 << (hi - lo)) - 1)
        order = np.argsort(chunk, kind="stable")
        starts = np.flatnonzero(np.r_[True, chunk[order][1:] != chunk[order][:-1], True])
        for s, e in zip(starts[:-1], starts[1:]):
            if 1 < e - s <= max_bucket:
                members = order[s:e]
                x = hashes[members]
                bits = np.unpackbits((x[:, None] ^ x[None, :])[..., None].view(np.uint8), axis=-1).sum(-1)
                for i, j in zip(*np.nonzero(np.triu(bits <= max_bits, 1))):
                    a, b = int(ids[members[i]]), int(ids[members[j]])
                    found.add((min(a, b), max(a, b)))
    return found
