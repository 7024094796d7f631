"""The perceptual hashes that propose colour-blind and turn-blind pairs: stable under grayscale and
re-encoding, apart for different photos, the turned copy's hash among the original's turns, and the bucketed
search finds exactly the pairs within the bit budget, for a whole collection or a batch in it."""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageOps

from neardup.encoder import augment, phash
from neardup.encoder.decode import to_input
from tests.conftest import sample_paths


def bits(a: int, b: int) -> int:
    return bin(int(a) ^ int(b)).count("1")


def test_hash_survives_grayscale_and_jpeg_and_separates_photos():
    photos = [Image.open(p).convert("RGB") for p in sample_paths()]
    hashes = [phash.phash(to_input(im, 64)) for im in photos]
    for im, h in zip(photos, hashes):
        gray = ImageOps.grayscale(im).convert("RGB")
        assert bits(h, phash.phash(to_input(augment.jpeg(gray, 40), 64))) <= 2
    assert min(bits(a, b) for i, a in enumerate(hashes) for b in hashes[i + 1:]) > 8


def test_turned_and_mirrored_copies_hash_like_a_turn_of_the_original():
    for path in sample_paths():
        im = Image.open(path).convert("RGB")
        turns = phash.dihedral(to_input(im, 64))
        assert turns[0] == phash.phash(to_input(im, 64))
        assert (phash.from_stored(phash.to_stored(turns)) == turns).all()
        for edit in (Image.Transpose.ROTATE_90, Image.Transpose.FLIP_LEFT_RIGHT, Image.Transpose.ROTATE_270):
            copy = phash.phash(to_input(augment.jpeg(im.transpose(edit), 60), 64))
            assert bits(turns[0], copy) > 8  # the plain hash misses it ...
            assert min(bits(t, copy) for t in turns) <= 2  # ... one of the turns finds it


def brute_force(ids, hashes, max_bits):
    n, k = hashes.shape
    xor = (hashes[:, None, :, None] ^ hashes[None, :, None, :]).view(np.uint8).reshape(n, n, k, k, 8)
    dist = np.unpackbits(xor, axis=-1).sum(-1)  # (i, j, turn of i, turn of j)
    close = (dist[:, :, 0, :] <= max_bits).any(-1) | (dist[:, :, :, 0] <= max_bits).any(-1)
    return {(int(ids[i]), int(ids[j])) for i, j in zip(*np.nonzero(np.triu(close, 1)))}


def test_near_pairs_equals_brute_force():
    rng = np.random.default_rng(0)
    n, k = 600, 3
    hashes = rng.integers(0, 2**63, (n, k), dtype=np.int64).astype(np.uint64)
    for i in range(0, 300, 3):  # plant pairs at 0..4 bits, own hash against own hash or another's turn
        flip = np.uint64(sum(1 << int(f) for f in rng.choice(64, size=i % 5, replace=False)))
        hashes[i + 1, 0] = hashes[i, (i // 3) % k] ^ flip
    hashes[300:340, 0] = (hashes[300:340, 0] & ~np.uint64(2**22 - 1)) | np.uint64(12345)  # one crowded bucket
    hashes[341, 0] = hashes[300, 0] ^ np.uint64((1 << 30) | (1 << 50))  # alike only in the crowded chunk
    hashes[342, 1] = hashes[342, 2] = hashes[342, 0]  # a symmetric picture: its turns hash alike
    hashes[343, 0] = hashes[342, 0] ^ np.uint64(1)
    ids = np.arange(n) + 10
    found = phash.near_pairs(ids, hashes, max_bits=2)
    assert found == brute_force(ids, hashes, 2) and len(found) >= 50
    assert (352, 353) in found and phash.near_pairs(ids, hashes[:, 0]) == brute_force(ids, hashes[:, :1], 2)
    batch = {10, 11, 310, 351, 352, 353, 500}  # a queue's batch: pairs with one of it, from its buckets alone
    assert phash.near_pairs(ids, hashes, max_bits=2, among=batch) == {p for p in found if batch & set(p)}


def test_a_batch_finds_its_hash_neighbours_in_the_registry_s_buckets(settings):
    """The queue's verify step reads only the buckets of its batch's hashes: the same pairs as the whole
    collection's hashes give, with a crowded bucket, two files of the same content, a symmetric picture, and
    files whose hashes were kept before there were buckets (filled in once)."""
    from neardup.pipeline import verify
    from neardup.pipeline.runtime import Runtime
    from neardup.storage.registry import Recorded

    registry = Runtime(settings).registry
    rng = np.random.default_rng(1)
    n = 400
    hashes = rng.integers(0, 2**63, (n, 8), dtype=np.int64).astype(np.uint64)
    for i in range(0, 200, 2):  # near pairs, own hash against own hash or another's turn
        hashes[i + 1, 0] = hashes[i, i % 8] ^ np.uint64(1 << int(rng.integers(64)))
    hashes[200:280, 0] = (hashes[200:280, 0] & ~np.uint64(2**22 - 1)) | np.uint64(4321)  # a crowded bucket
    hashes[281, 0] = hashes[200, 0] ^ np.uint64((1 << 30) | (1 << 50))  # alike in the crowded chunk alone ...
    middle = np.uint64(((1 << 42) - 1) ^ ((1 << 21) - 1))
    hashes[282, 0] = (hashes[282, 0] & ~middle) | (hashes[281, 0] & middle)  # ... read in through another's
    hashes[290, 1:4] = hashes[290, 0]  # a symmetric picture
    contents = [f"c{i}" for i in range(n)] + ["c5"]  # a second file of content c5
    ids = registry.record_items("col", [Recorded(f"/p/{i}.jpg", c, 8, 8, 1) for i, c in enumerate(contents)])
    early = {c: phash.to_stored(hashes[int(c[1:])]) for c in contents[:100]}
    registry.store_vectors(phash.KEY, early)  # kept before there were buckets
    registry.store_hash_buckets({c: phash.buckets(hashes[int(c[1:])]) for c in contents[100:n]})
    registry.store_vectors(phash.KEY, {c: phash.to_stored(hashes[int(c[1:])]) for c in contents[100:n]})
    whole = verify.hash_pairs(registry, "col")
    assert len(whole) >= 100
    for batch in ({ids[0], ids[5], ids[n], ids[200], ids[282], ids[290]}, set(ids[150:170]), {ids[-1]}):
        assert verify.batch_hash_pairs(registry, "col", batch) == {p for p in whole if batch & set(p)}
    # a search's query, not stored, with image 4's hashes: image 4's pairs, and image 4 itself
    like_4 = {(-1, b if a == ids[4] else a) for a, b in whole if ids[4] in (a, b)} | {(-1, ids[4])}
    assert len(like_4) >= 2 and verify.batch_hash_pairs(registry, "col", (), {-1: hashes[4]}) == like_4
    # another collection's 70 files in image 0's buckets (distinct hashes, alike in the low 57 bits): they
    #   count for that collection alone, so image 0's buckets are not crowded here and its pair stays
    alike = hashes[0, 0] ^ (np.arange(1, 71, dtype=np.uint64) << np.uint64(57))
    others = [f"o{k}" for k in range(70)]
    registry.record_items("other", [Recorded(f"/q/{c}.jpg", c, 8, 8, 1) for c in others])
    registry.store_hash_buckets({c: phash.buckets(np.array([h], np.uint64)) for c, h in zip(others, alike)})
    registry.store_vectors(phash.KEY, {c: phash.to_stored(np.array([h], np.uint64)) for c, h in zip(others, alike)})
    keys = {(c, v) for c, v, _, _ in phash.buckets(hashes[0])}
    members, crowded = registry.hash_bucket_members("col", keys, phash.MAX_BUCKET)
    assert not crowded and {i for i, _, _ in members} <= set(ids)
    _, crowded = registry.hash_bucket_members("other", keys, phash.MAX_BUCKET)
    assert {c for c, _ in crowded} == {0, 1}
    assert verify.batch_hash_pairs(registry, "col", {ids[0]}) == {p for p in whole if ids[0] in p}


def test_hashes_kept_without_buckets_after_a_worker_s_first_batch_get_them(settings, monkeypatch):
    """During a rolling upgrade a worker of an older release keeps perceptual hashes without their buckets
    after this worker filled the registry's: the next search for them (every FILL_EVERY seconds) adds
    theirs, so a later batch still finds its copy among them."""
    from neardup.pipeline import verify
    from neardup.pipeline.runtime import Runtime
    from neardup.storage.registry import Recorded

    registry = Runtime(settings).registry
    rng = np.random.default_rng(2)
    hashes = rng.integers(0, 2**63, (3, 8), dtype=np.int64).astype(np.uint64)
    hashes[2, 0] = hashes[1, 0] ^ np.uint64(1 << 7)  # the copy of image 1, one bit off
    ids = registry.record_items("col", [Recorded(f"/p/{i}.jpg", f"c{i}", 8, 8, 1) for i in range(3)])
    registry.store_hash_buckets({"c0": phash.buckets(hashes[0])})
    registry.store_vectors(phash.KEY, {"c0": phash.to_stored(hashes[0])})
    assert verify.batch_hash_pairs(registry, "col", {ids[0]}) == set()  # this worker's first batch: filled
    registry.store_vectors(phash.KEY, {"c1": phash.to_stored(hashes[1])})  # an old worker: no buckets
    registry.store_hash_buckets({"c2": phash.buckets(hashes[2])})
    registry.store_vectors(phash.KEY, {"c2": phash.to_stored(hashes[2])})
    monkeypatch.setattr(verify, "FILL_EVERY", 0.0)
    assert verify.batch_hash_pairs(registry, "col", {ids[2]}) == {(ids[1], ids[2])}
