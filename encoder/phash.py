"""Perceptual hashes (pHash, 64 bits) of the encoder's input pixels: a second, colour-blind and turn-blind way
to propose pairs.

The CNN is colour-sensitive and sees one orientation, so a grayscale, mirrored or quarter-turned copy can land
outside an image's nearest neighbours; the DCT of the luminance barely moves under grayscale, saturation,
brightness and re-encoding (dev benchmark: every grayscale copy within 2 bits of its original), and hashing
the 8 flips and quarter turns of it finds the turned copies too. Pairs proposed this way are only kept if
verified (pipeline/verify.py), so pHash's look-alike collisions (star fields with equal hashes) cost nothing.
The cells of a collage (encoder/collage.py) are hashed too and kept after the turns: a photo whose own hash is
near a cell's is proposed with the collage.
"""
from __future__ import annotations

import numpy as np
from PIL import Image

KEY = "phash64x8"  # stored beside the encoders' vectors, keyed by content hash and this name
_N = 32
_K = np.arange(_N)
_DCT = np.cos(np.pi * (2 * _K[None, :] + 1) * _K[:, None] / (2 * _N))  # DCT-II basis (unnormalised)
_MIRROR = (-1.0) ** np.arange(8)  # mirroring an axis flips the sign of that axis's odd DCT frequencies


def _low(pixels: np.ndarray) -> np.ndarray:
    """The 8x8 lowest DCT frequencies of the picture's 32x32 luminance."""
    gray = np.asarray(Image.fromarray(pixels).convert("L").resize((_N, _N), Image.BOX), np.float64)
    return (_DCT @ gray @ _DCT.T)[:8, :8]


def _bits(low: np.ndarray) -> np.ndarray:
    """(m, 8, 8) lowest DCT frequencies -> (m,) hashes: their signs against each one's median."""
    flat = low.reshape(len(low), 64)
    return np.packbits(flat > np.median(flat, axis=1, keepdims=True), axis=1).view(">u8").ravel().astype(np.uint64)


def phash(pixels: np.ndarray) -> int:
    """pHash of an (H, W, 3) uint8 RGB array: the signs, against their median, of the 8x8 lowest DCT
    frequencies of its 32x32 luminance."""
    return int(_bits(_low(pixels)[None])[0])


def dihedral(pixels: np.ndarray) -> np.ndarray:
    """The pHashes of the picture and of its 7 flips and quarter turns, the picture's own first: (8,) uint64.
    One DCT: the turned pictures' coefficients are the transpose and sign flips of the picture's own."""
    low = _low(pixels)
    axes = (np.ones(8), _MIRROR)  # each axis kept or mirrored
    return _bits(np.stack([np.outer(r, c) * t for t in (low, low.T) for r in axes for c in axes]))


TURNS = 8  # what is kept of a picture starts with dihedral()'s hashes; a collage's cells' follow (with_cells())


def with_cells(pixels: np.ndarray, cells=()) -> np.ndarray:
    """dihedral() of the picture, then the pHash of each cell of a collage (`cells`: each as the encoder's input
    is), as a picture's hashes are kept: not its own (column 0), so a cell is proposed with a photo whose own
    hash is near it, never with another collage's cell."""
    return np.concatenate([dihedral(pixels), np.array([phash(c) for c in cells], np.uint64)])


def to_stored(hashes) -> np.ndarray:
    """The bytes as the registry's float32 vector column holds them (a reinterpretation, not a conversion)."""
    return np.atleast_1d(np.asarray(hashes, np.uint64)).view(np.float32)


def from_stored(v: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(v, np.float32).view(np.uint64)


MAX_BITS = 2  # the proposals' distance: hashes within this many bits
MAX_BUCKET = 64  # buckets of more hashes are skipped (flat or black images, all alike)


def near_pairs(ids: np.ndarray, hashes, max_bits: int = MAX_BITS, max_bucket: int = MAX_BUCKET,
               among=None) -> set[tuple[int, int]]:
    """(low id, high id) pairs where one image's own hash (the first of each row of `hashes`: an (n, k) array, or
    n arrays of any lengths, with_cells()'s; an (n,) array is one hash each) is within `max_bits` bits of any
    hash of the other, without comparing all pairs: split the 64
    bits into max_bits + 1 chunks; two hashes that close agree exactly on at least one chunk (pigeonhole), so
    only hashes sharing a chunk value are compared. Buckets over `max_bucket` hashes are skipped. `among`
    (ids): only the pairs with one of them, found from their buckets alone (a queue's batch against its whole
    collection)."""
    if not len(ids):
        return set()
    if isinstance(hashes, np.ndarray):
        groups = [(np.arange(len(ids)), np.asarray(hashes, np.uint64).reshape(len(ids), -1))]
    else:  # rows of one length at a time: most pictures' is TURNS, a collage's more
        rows = [np.atleast_1d(np.asarray(h, np.uint64)) for h in hashes]
        lengths = np.fromiter(map(len, rows), np.int64, len(rows))
        groups = [(which, np.stack([rows[i] for i in which]))
                  for which in (np.flatnonzero(lengths == k) for k in np.unique(lengths))]
    owners, owns, flats = [], [], []
    for which, group in groups:
        of, own, flat = _distinct(group)
        owners.append(which[of])
        owns.append(own)
        flats.append(flat)
    of = np.concatenate(owners)
    return pairs_among(np.asarray(ids, np.int64)[of], np.concatenate(owns), np.concatenate(flats), max_bits,
                       max_bucket, among)


def _distinct(hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The distinct hashes of each row of an (n, k) array (a symmetric picture has equal hashes among its
    turns: each counted once, from its first column), flat: their rows, whether each is its row's own (column
    0), and the hashes."""
    n, k = hashes.shape
    keep = ~np.triu(hashes[:, :, None] == hashes[:, None, :], 1).any(axis=1).ravel()
    return np.repeat(np.arange(n), k)[keep], np.tile(np.arange(k) == 0, n)[keep], hashes.ravel()[keep]


def buckets(hashes: np.ndarray, max_bits: int = MAX_BITS) -> list[tuple[int, int, int, bool]]:
    """One picture's hashes (its own and its turns'), as the rows a registry keeps to find its buckets: (chunk,
    the chunk's value, the hash as a signed 64-bit integer, whether it is the picture's own)."""
    _, own, flat = _distinct(np.asarray(hashes, np.uint64).reshape(1, -1))
    return [(n, int(v), int(h), bool(o)) for n, values in enumerate(_chunk_values(flat, max_bits))
            for v, h, o in zip(values, flat.view(np.int64), own)]


def _chunk_values(flat: np.ndarray, max_bits: int) -> list[np.ndarray]:
    """Each of the max_bits + 1 chunks of the hashes, as integers."""
    bounds = np.linspace(0, 64, max_bits + 2).astype(int)
    return [(flat >> np.uint64(lo)) & np.uint64((1 << (hi - lo)) - 1) for lo, hi in zip(bounds[:-1], bounds[1:])]


def pairs_among(owner: np.ndarray, own: np.ndarray, flat: np.ndarray, max_bits: int = MAX_BITS,
                max_bucket: int = MAX_BUCKET, among=None, crowded=frozenset()) -> set[tuple[int, int]]:
    """near_pairs over distinct hashes given one by one (`owner` image id, `own` hash or a turn's, the hash).
    `crowded`: (chunk, value) buckets known to hold over `max_bucket` hashes, where only some of them are
    given (a registry's answer for a batch): skipped too. Vectorised over buckets: the cost grows with the
    pairs compared, not with the number of buckets."""
    wanted = None if among is None else np.isin(owner, np.fromiter(among, np.int64))
    found: set[tuple[int, int]] = set()
    for n, chunk in enumerate(_chunk_values(flat, max_bits)):
        # the hashes in buckets with one of `among`'s (whole buckets: their sizes count), else all
        part = np.arange(len(chunk)) if wanted is None else np.flatnonzero(np.isin(chunk, chunk[wanted]))
        skipped = [v for c, v in crowded if c == n]
        if skipped:
            part = part[~np.isin(chunk[part], np.array(skipped, np.uint64))]
        order = part[np.argsort(chunk[part], kind="stable")]
        values = chunk[order]
        starts = np.flatnonzero(np.r_[True, values[1:] != values[:-1]]) if len(order) else order
        sizes = np.diff(np.r_[starts, len(order)])
        fit = (sizes > 1) & (sizes <= max_bucket)
        for first, second in _bucket_pairs(starts[fit], sizes[fit]):
            i, j = order[first], order[second]
            close = ((np.bitwise_count(flat[i] ^ flat[j]) <= max_bits) & (own[i] | own[j]) & (owner[i] != owner[j]))
            if wanted is not None:
                close &= wanted[i] | wanted[j]
            a, b = owner[i[close]], owner[j[close]]
            found.update(zip(np.minimum(a, b).tolist(), np.maximum(a, b).tolist()))
    return found


def _bucket_pairs(starts: np.ndarray, sizes: np.ndarray, per_block: int = 1 << 21):
    """Every pair of positions (first, second), first < second, within each bucket (starts, sizes), in blocks
    of about `per_block` pairs."""
    counts = sizes * (sizes - 1) // 2
    ends = np.cumsum(counts)
    block = 0
    while block < len(starts):
        last = max(block + 1, int(np.searchsorted(ends, (ends[block - 1] if block else 0) + per_block)))
        s, k = starts[block:last], sizes[block:last]
        rank = _counting(k)  # each position's rank in its bucket
        later = np.repeat(k, k) - 1 - rank  # positions after it in its bucket
        first = np.repeat(np.repeat(s, k) + rank, later)
        yield first, first + 1 + _counting(later)
        block = last


def _counting(counts: np.ndarray) -> np.ndarray:
    """0, 1, ..., count - 1 for each of `counts`, one after the other."""
    return np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
