"""Crowding: how close a picture's look-alikes sit among a fixed set of reference photos.

Two photos of the same kind of texture, sky or product shot lie closer to each other than two copies of a
distinctive photo do after a crop; a global distance threshold cannot tell them apart. A pair from a crowded
part of the embedding space must therefore lie closer to count: its distance gets a penalty of how far the
two pictures' crowding (the mean distance to their `k` nearest reference photos) falls short of the
`ceiling` (the crowding most reference photos have, a high quantile). Distinctive pictures get no penalty,
so nothing is ever pulled closer, and the adjusted distance of a pair depends on its two vectors only: a scan
and the queue agree, however the collection grows (the score normalisation of the DISC21 challenge, made
one-sided). The reference vectors ship beside the model they were embedded with (`NAME.crowding.npy`).
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

SAME_PICTURE = 0.01  # a reference photo is not its own look-alike: vectors this close are the same picture


class Crowding:
    def __init__(self, reference: np.ndarray, k: int, ceiling: float):
        reference = np.asarray(reference, np.float32)  # unit length again after float16 storage: a vector's
        self.reference = reference / np.linalg.norm(reference, axis=1, keepdims=True)  # distance to itself is 0
        self.k, self.ceiling = int(k), float(ceiling)

    def of(self, vecs: np.ndarray) -> np.ndarray:
        """Each vector's crowding: the mean distance to its k nearest reference vectors (itself left out)."""
        vecs = np.asarray(vecs, np.float32).reshape(-1, self.reference.shape[1])
        out = np.empty(len(vecs), np.float32)
        for start in range(0, len(vecs), 1024):
            d = np.sqrt(np.maximum(2.0 - 2.0 * (vecs[start:start + 1024] @ self.reference.T), 0.0))
            d[d < SAME_PICTURE] = np.inf
            out[start:start + 1024] = np.sort(d, axis=1)[:, :self.k].mean(axis=1)
        return out

    def penalty(self, crowd_a, crowd_b):
        """What a pair's distance gains: how far its mean crowding falls short of the ceiling (never < 0)."""
        return np.maximum(0.0, self.ceiling - (np.asarray(crowd_a) + np.asarray(crowd_b)) / 2)

    def adjusted(self, d, crowd_a, crowd_b) -> np.ndarray:
        """Distances `d` with the penalty, except those under SAME_PICTURE: two files of one picture (the same
        bytes, a lossless conversion) are no look-alikes, however crowded their part of the space."""
        d = np.asarray(d)
        return np.where(d < SAME_PICTURE, d, d + self.penalty(crowd_a, crowd_b))

    def distances(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """All distances between two sets of unit vectors with the penalty, as an index holding this
        crowding reports them: (len(a), len(b))."""
        d = np.sqrt(np.maximum(2.0 - 2.0 * (np.asarray(a, np.float32) @ np.asarray(b, np.float32).T), 0.0))
        return self.adjusted(d, self.of(a)[:, None], self.of(b)[None, :])

    def spec(self, file: str) -> dict:
        return {"file": file, "k": self.k, "ceiling": round(self.ceiling, 5), "photos": len(self.reference)}


def candidates(k: int) -> int:
    """How many of the nearest by plain distance are ranked again by the penalised distance for its k nearest
    (the penalty can move a neighbour past others, not past everything)."""
    return 3 * k + 10


def fit(reference: np.ndarray, k: int = 5, quantile: float = 0.9) -> Crowding:
    """Crowding against these reference vectors, its ceiling at the `quantile` of their own crowding."""
    reference = np.asarray(reference, np.float16).astype(np.float32)  # as save() stores them
    crowd = Crowding(reference, k, 0.0)
    return Crowding(reference, k, float(np.quantile(crowd.of(reference), quantile)))


def file_for(model_path: Path) -> Path:
    return Path(model_path).with_suffix(".crowding.npy")


def save(model_path: Path, crowding: Crowding) -> dict:
    """Write the reference vectors beside the model (float16: half the size, distances within 1e-3);
    returns the sidecar's entry."""
    path = file_for(model_path)
    with open(path, "wb") as fh:
        np.save(fh, crowding.reference.astype(np.float16))
    return crowding.spec(path.name)


def load(model_path: Path, spec: dict) -> Crowding | None:
    """The crowding a model's sidecar names (None for a model without one)."""
    if not spec:
        return None
    reference = np.load(Path(model_path).with_name(spec["file"]), allow_pickle=False)
    return Crowding(reference.astype(np.float32), spec["k"], spec["ceiling"])


def digest(model_path: Path, spec: dict) -> bytes:
    """The reference file's bytes' hash, part of the model's version: it changes every distance."""
    if not spec:
        return b""
    return hashlib.sha256(Path(model_path).with_name(spec["file"]).read_bytes()).digest()
