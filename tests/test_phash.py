"""The perceptual hash that proposes colour-blind pairs: stable under grayscale and re-encoding, apart for
different photos, and its bucketed search finds exactly the pairs within the bit budget."""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageOps

from encoder import augment, phash
from encoder.decode import to_input
from tests.conftest import sample_paths


def bits(a: int, b: int) -> int:
    return bin(a ^ b).count("1")


def test_hash_survives_grayscale_and_jpeg_and_separates_photos():
    photos = [Image.open(p).convert("RGB") for p in sample_paths()]
    hashes = [phash.phash(to_input(im, 64)) for im in photos]
    for im, h in zip(photos, hashes):
        gray = ImageOps.grayscale(im).convert("RGB")
        assert bits(h, phash.phash(to_input(augment.jpeg(gray, 40), 64))) <= 2
        assert phash.from_stored(phash.to_stored(h)) == h
    assert min(bits(a, b) for i, a in enumerate(hashes) for b in hashes[i + 1:]) > 8


def test_near_pairs_equals_brute_force():
    rng = np.random.default_rng(0)
    hashes = rng.integers(0, 2**63, 3000, dtype=np.int64).astype(np.uint64)
    for i in range(0, 300, 3):  # plant pairs at 0..4 bits
        flip = rng.choice(64, size=i % 5, replace=False)
        hashes[i + 1] = hashes[i] ^ np.uint64(sum(1 << int(f) for f in flip))
    hashes[300:340] = (hashes[300:340] & ~np.uint64(2**22 - 1)) | np.uint64(12345)  # one crowded bucket
    hashes[341] = hashes[300] ^ np.uint64((1 << 30) | (1 << 50))  # alike only in the crowded chunk
    ids = np.arange(len(hashes)) + 10
    xor = (hashes[:, None] ^ hashes[None, :]).view(np.uint8).reshape(len(hashes), len(hashes), 8)
    close = np.unpackbits(xor, axis=-1).sum(-1) <= 2
    brute = {(int(ids[i]), int(ids[j])) for i, j in zip(*np.nonzero(np.triu(close, 1)))}
    found = phash.near_pairs(ids, hashes, max_bits=2)
    assert found == brute and len(found) >= 50
