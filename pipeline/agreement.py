"""Hash agreement: a pair whose perceptual hashes agree is reported closer than the embedding alone puts it.

The embedding ranks two photos of one kind of subject (two star clusters, two galaxies, two hands) about as
close as a strongly edited copy. pHash, blind to what a picture shows, agrees on a re-encoded, resized,
recoloured or lightly adjusted copy and seldom on a look-alike (encoder/phash.py). Where one picture's hash
lies within phash.MAX_BITS of one of the other's eight flips and turns, the pair's distance is lowered by
a share of the match threshold, at most halved: the copies both already put first stay first, and those the
embedding ranks among look-alikes move ahead of them. The share is the encoder's own, measured (its sidecar's
"agreement"; the setting `hash_pull` wins): pHash can give two pictures of one centred blob on black (two
nebulae) one hash, which at the 224-px encoders' input it does on the benchmark, so theirs is 0
(docs/crowding.md). Nothing is pushed apart: a crop or a turn by a few degrees, whose hash differs, keeps the
embedding's distance. The adjusted distance depends on the two
images alone, so a scan, the queue and a sweep report the same.
"""
from __future__ import annotations

import numpy as np

from neardup.encoder import phash
from neardup.storage.index import nearest_of


def share_for(rt, version: str) -> float:
    """The share of the match threshold an agreeing pair is pulled by: the settings' `hash_pull`, else what the
    version's sidecar says (0 for a version the registry does not hold: a bare index)."""
    if rt.settings.hash_pull is not None:
        return float(rt.settings.hash_pull)
    try:
        return float(rt.model_info(version).agreement.get("pull", 0.0))
    except LookupError:
        return 0.0


def agree(x: np.ndarray, y: np.ndarray) -> bool:
    """Whether two pictures' hashes ((8,) uint64 each, phash.dihedral(): their own first) agree: one's own
    within MAX_BITS of any of the other's, either way round (a mirrored copy's own hash is the other's mirror)."""
    return bool(agreeing(x, y[None])[0])


def agreeing(x: np.ndarray, others: np.ndarray) -> np.ndarray:
    """agree(x, y) for each row y of `others` ((n, 8) uint64), in one pass: a scan asks it of every image's
    80-odd nearest, and a Python loop per pair showed in its profile."""
    own = np.bitwise_count(others ^ x[0]).min(axis=1)  # x's own hash against each other's eight
    theirs = np.bitwise_count(others[:, :1] ^ x[None, :]).min(axis=1)  # each other's own against x's eight
    return np.minimum(own, theirs) <= phash.MAX_BITS


def pulled(d: float, by: float) -> float:
    """A distance lowered by `by`, at most halved: never below zero, and pairs keep their order."""
    return max(d - by, d / 2)


class Agreement:
    """The stored hashes of one collection's images, read from the registry as the pairs asked about name them
    (an image without any keeps the embedding's distance)."""

    def __init__(self, rt, collection: str, version: str, thresholds: dict):
        self.registry, self.collection = rt.registry, collection
        self.by = share_for(rt, version) * thresholds["match"]  # a search within the match threshold plus this
        #   finds every pair the pull brings inside it
        self.hashes: dict[int, np.ndarray | None] = {}

    def _load(self, ids) -> None:
        if not self.by:  # nothing to pull: no hashes to read
            return
        missing = sorted({int(i) for i in ids} - self.hashes.keys())
        if missing:
            found = self.registry.vectors_by_image(self.collection, phash.KEY, missing)
            self.hashes.update((i, phash.from_stored(found[i])[:phash.TURNS] if i in found else None) for i in missing)

    def _pulled(self, x: np.ndarray | None, near: list[tuple[int, float]]) -> list[tuple[int, float]]:
        """`near` ([(other, distance)]) seen from a picture of hashes `x`, the agreeing pairs' distances lowered,
        nearest first (ties: the lower id)."""
        out = list(near)
        hashed = [j for j, (o, _) in enumerate(near) if self.hashes.get(o) is not None] if x is not None else []
        if hashed:
            for j, agrees in zip(hashed, agreeing(x, np.stack([self.hashes[near[j][0]] for j in hashed]))):
                if agrees:
                    out[j] = (near[j][0], pulled(near[j][1], self.by))
        return sorted(out, key=lambda t: (t[1], t[0]))

    def nearest(self, found: dict[int, list[tuple[int, float]]]) -> dict[int, list[tuple[int, float]]]:
        """{image: [(other, distance)]} with the agreeing pairs' distances lowered, each list nearest first
        (ties: the lower id)."""
        self._load({i for q, near in found.items() if near for i in (q, *(o for o, _ in near))})
        return {q: self._pulled(self.hashes.get(q), near) for q, near in found.items()}

    def nearest_to(self, hashes: np.ndarray, near: list[tuple[int, float]]) -> list[tuple[int, float]]:
        """nearest() for a picture that is not stored (`neardup search`), by its own hashes (phash.dihedral())."""
        self._load(o for o, _ in near)
        return self._pulled(hashes, near)

    def within(self, index, ids, vecs: np.ndarray, match: float, most: int = 0) -> dict[int, list[tuple[int, float]]]:
        """{image: [(other, distance)]}: the images `index` holds within `match` of each of `ids` (their vectors
        `vecs`) by the distance with hash agreement; only the `most` nearest if `most` > 0."""
        found = index.within(vecs, match + self.by, most) if len(ids) else []
        near = self.nearest({int(i): [(o, d) for o, d in f if o != i] for i, f in zip(ids, found)})
        return {i: nearest_of([(o, d) for o, d in n if d <= match], most) for i, n in near.items()}
