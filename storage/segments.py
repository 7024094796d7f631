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


def _fsync_write(path: Path, write, durable: bool = True) -> None:
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    if durable:
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
    os.replace(tmp, path)


def _save_npy(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as fh:  # a file object: np.save would add ".npy" to the ".tmp" name
        np.save(fh, array)


def n_trees_for(count: int) -> int:
    """Few trees: near-duplicates sit far closer than unrelated images, so a handful of trees finds them,
    and every tree is paid for again at each merge."""
    return int(np.clip(np.log2(max(count, 2)) * 0.5, 6, 10))


def build(base: Path, ids: np.ndarray, vecs: np.ndarray, n_trees: int | None = None) -> dict:
    """Write segment files under `base` (a path without suffix), the raw vectors too (merges read them)."""
    base.parent.mkdir(parents=True, exist_ok=True)
    _fsync_write(base.with_suffix(".vec.npy"), lambda p: _save_npy(p, vecs.astype(np.float32)))
    return build_chunks(base, [(ids, vecs)], vecs.shape[1], n_trees)


def build_chunks(base: Path, chunks, dim: int, n_trees: int | None = None, rows_per_add: int = 4096,
                 durable: bool = True, on_disk: bool = False) -> dict:
    """The Annoy file, ids and sidecar from (ids, vectors) chunks taken one at a time, so a caller can
    stream a whole collection through without holding it. `durable=False`: no fsync, for a throwaway.
    `on_disk`: Annoy builds straight into its (memory-mapped) file, so a million vectors take page cache
    the kernel can reclaim rather than process memory."""
    base.parent.mkdir(parents=True, exist_ok=True)
    ann = base.with_suffix(".ann")
    index = AnnoyIndex(dim, METRIC)
    index.set_seed(42)
    if on_disk:
        index.on_disk_build(str(ann.with_name(ann.name + ".tmp")))
    all_ids, count = [], 0
    for ids, vecs in chunks:
        all_ids.append(np.asarray(ids, np.int64))
        for s in range(0, len(vecs), rows_per_add):  # bounded: a list of Python floats is 6x the array
            rows = np.asarray(vecs[s:s + rows_per_add], np.float32).tolist()  # lists convert 2x faster
            for n, row in enumerate(rows):
                index.add_item(count + n, row)
            count += len(rows)
    n_trees = n_trees or n_trees_for(count)
    index.build(n_trees, n_jobs=-1)
    if on_disk:  # the index is its file already: close it, then move it into place like any other
        index.unload()
        _fsync_write(ann, lambda p: None, durable)
    else:
        _fsync_write(ann, lambda p: index.save(str(p)), durable)
        index.unload()
    ids = np.concatenate(all_ids) if all_ids else np.empty(0, np.int64)
    _fsync_write(base.with_suffix(".ids.npy"), lambda p: _save_npy(p, ids), durable)
    meta = {"f": dim, "metric": METRIC, "n_trees": n_trees, "count": int(count)}
    _fsync_write(base.with_suffix(".json"), lambda p: p.write_text(json.dumps(meta)), durable)
    return meta


def merge_files(base: Path, members: list[Path], drop: list[int]) -> int:
    """Build segment `base` from member segments' files (ids and raw vectors), leaving out the `drop` ids.
    The index runs this in a separate process, so ingestion goes on meanwhile; returns the item count."""
    ids = np.concatenate([np.load(m.with_suffix(".ids.npy")) for m in members])
    vecs = np.concatenate([np.load(m.with_suffix(".vec.npy"), mmap_mode="r") for m in members])
    if drop:
        keep = ~np.isin(ids, drop)
        ids, vecs = ids[keep], vecs[keep]
    build(base, ids, vecs)
    return len(ids)


def remove(base: Path) -> None:
    for suffix in (".ann", ".ids.npy", ".vec.npy", ".json"):
        try:
            os.unlink(base.with_suffix(suffix))
        except FileNotFoundError:
            pass


class Segment:
    """A read-only, memory-mapped segment; `level` and `last_seq` are what the index recorded of it."""

    def __init__(self, base: Path, level: int = 0, last_seq: int = 0):
        self.base = Path(base)
        self.level, self.last_seq = level, last_seq
        self.meta = json.loads(self.base.with_suffix(".json").read_text())
        self.ids = np.load(self.base.with_suffix(".ids.npy"), mmap_mode="r")
        self.annoy = AnnoyIndex(self.meta["f"], self.meta["metric"])
        self.annoy.load(str(self.base.with_suffix(".ann")))  # mmap: shared between processes
        self._crowds: np.ndarray | None = None
        self._vecs: np.ndarray | None = None  # the raw vectors, mapped on first need

    def crowds(self, local: np.ndarray, crowding) -> np.ndarray:
        """The crowding (encoder/crowding.py) of these items, worked out from their raw vectors on first
        need and kept (or given whole by `set_crowds`)."""
        if self._crowds is None:
            self._crowds = np.full(len(self), np.nan, np.float32)
        local = np.asarray(local, np.int64)
        missing = local[np.isnan(self._crowds[local])]
        if len(missing):
            if self._vecs is None:
                self._vecs = np.load(self.base.with_suffix(".vec.npy"), mmap_mode="r")
            self._crowds[missing] = crowding.of(np.asarray(self._vecs[missing]))
        return self._crowds[local]

    def set_crowds(self, crowds: np.ndarray) -> None:
        self._crowds = np.asarray(crowds, np.float32)

    def __len__(self) -> int:
        return self.meta["count"]

    def within(self, query: np.ndarray, radius: float, k: int = 10, most: int = 0):
        """Local positions and distances of the items within `radius` of `query` (at least the `most` nearest
        of them if `most` > 0: the search stops widening there)."""
        return self._widening(lambda kk, sk: self.annoy.get_nns_by_vector(query, kk, sk, True), radius, k, most)

    def within_item(self, position: int, radius: float, k: int = 10, most: int = 0):
        """The same for an item of this segment (itself included): no vector crosses into Python."""
        return self._widening(lambda kk, sk: self.annoy.get_nns_by_item(position, kk, sk, True), radius, k, most)

    def _widening(self, lookup, radius: float, k: int, most: int = 0, search_factor: int = 8):
        """Widen k until the farthest candidate returned lies outside `radius` (no near item cut off by k), or
        until `most` (if > 0) are returned."""
        n = len(self)
        while True:
            kk = min(k, n)
            idx, dist = lookup(kk, kk * self.meta["n_trees"] * search_factor)
            if not dist or dist[-1] > radius or kk >= n or 0 < most <= kk:
                break
            k *= 4
        idx = np.asarray(idx, np.int64)
        dist = np.asarray(dist, np.float32)
        keep = dist <= radius
        return idx[keep], dist[keep]

    def close(self) -> None:
        self.annoy.unload()
        self._vecs = None
