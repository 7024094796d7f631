"""One sealed, immutable Annoy segment: `NAME.ann`, its image ids and raw vectors, and a JSON sidecar.

Built off to the side, fsynced, then renamed into place, so a reader (which mmaps) never sees a
half-written file. `add_item` is never called after `build` (DESIGN.md invariant 3).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
from annoy import AnnoyIndex

METRIC = "euclidean"  # on unit vectors: the same distance as DESIGN.md's 0..2 scale


def _fsync_write(path: Path, write) -> None:
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def n_trees_for(count: int) -> int:
    return int(min(32, max(8, 4 * np.log2(max(count, 2)) // 2)))


def build(base: Path, ids: np.ndarray, vecs: np.ndarray, n_trees: int | None = None) -> dict:
    """Write segment files under `base` (a path without suffix); return the sidecar."""
    base.parent.mkdir(parents=True, exist_ok=True)
    dim = vecs.shape[1]
    n_trees = n_trees or n_trees_for(len(vecs))
    index = AnnoyIndex(dim, METRIC)
    index.set_seed(42)
    for i, v in enumerate(vecs):
        index.add_item(i, v)
    index.build(n_trees, n_jobs=-1)

    _fsync_write(base.with_suffix(".ann"), lambda p: index.save(str(p)))
    index.unload()
    _fsync_write(base.with_suffix(".ids.npy"), lambda p: np.save(open(p, "wb"), ids.astype(np.int64)))
    _fsync_write(base.with_suffix(".vec.npy"), lambda p: np.save(open(p, "wb"), vecs.astype(np.float32)))
    meta = {"f": dim, "metric": METRIC, "n_trees": n_trees, "count": int(len(vecs))}
    _fsync_write(base.with_suffix(".json"), lambda p: p.write_text(json.dumps(meta)))
    return meta


def remove(base: Path) -> None:
    for suffix in (".ann", ".ids.npy", ".vec.npy", ".json"):
        try:
            os.unlink(base.with_suffix(suffix))
        except FileNotFoundError:
            pass


class Segment:
    """A read-only, memory-mapped segment."""

    def __init__(self, base: Path):
        self.base = Path(base)
        self.meta = json.loads(self.base.with_suffix(".json").read_text())
        self.ids = np.load(self.base.with_suffix(".ids.npy"), mmap_mode="r")
        self.vectors = np.load(self.base.with_suffix(".vec.npy"), mmap_mode="r")
        self.annoy = AnnoyIndex(self.meta["f"], self.meta["metric"])
        self.annoy.load(str(self.base.with_suffix(".ann")))  # mmap: shared between processes

    def __len__(self) -> int:
        return self.meta["count"]

    def within(self, query: np.ndarray, radius: float, k: int = 32, search_factor: int = 4):
        """Local positions and distances of the items within `radius` of `query`, widening k until the
        farthest candidate returned lies outside it (so no near item is cut off by k)."""
        n = len(self)
        while True:
            kk = min(k, n)
            idx, dist = self.annoy.get_nns_by_vector(query, kk, search_k=kk * self.meta["n_trees"] * search_factor,
                                                     include_distances=True)
            if not dist or dist[-1] > radius or kk >= n:
                break
            k *= 4
        idx = np.asarray(idx, np.int64)
        dist = np.asarray(dist, np.float32)
        keep = dist <= radius
        return idx[keep], dist[keep]

    def close(self) -> None:
        self.annoy.unload()
