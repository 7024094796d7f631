"""The nightly sweep: all-vs-all over a collection's live generation, from the index itself, with the same
outputs as a scan (pairs, groups, report). Also a consistency check of what ingestion recorded."""
from __future__ import annotations

import os
import time

import numpy as np

from .ingest import label_for
from .scan import ScanResult, nearest_neighbors


def indexed_vectors(index):
    """(image ids, vectors) of everything live in the index, segment by segment, then the buffer."""
    for seg in index.segments.values():
        ids = np.asarray(seg.ids)
        keep = ~np.isin(ids, list(index.tombstones)) if index.tombstones else slice(None)
        yield ids[keep], np.asarray(seg.vectors)[keep]
    if len(index.buffer_ids):
        yield index.buffer_ids, index.buffer_vecs


def sweep(rt, collection: str, neighbors: int = 0, chunk: int = 4096, progress=None) -> ScanResult:
    t0 = time.time()
    generation, _ = rt.generations(collection)
    if generation is None:
        raise LookupError(f"collection {collection!r} has nothing indexed")
    info = rt.model_info(generation)
    th = rt.thresholds(info)
    index = rt.index(collection, generation, info.dim)
    pairs: dict[tuple[int, int], tuple] = {}
    vectors: dict[int, np.ndarray] = {}
    for ids, vecs in indexed_vectors(index):
        for start in range(0, len(ids), chunk):
            q_ids, q = ids[start:start + chunk], vecs[start:start + chunk]
            for qid, hits in zip(q_ids.tolist(), index.within(q, th["match"])):
                for other, d in hits:
                    if other != qid:
                        a, b = min(qid, other), max(qid, other)
                        pairs[(a, b)] = (a, b, round(d, 6), label_for(d, th))
            vectors.update(zip(q_ids.tolist(), q))
            if progress:
                progress(len(q_ids))
    rows = {r.id: r for r in rt.registry.images(ids=list(vectors))}
    root = os.path.commonpath([r.path for r in rows.values()]) if rows else "/"
    res = ScanResult(root if os.path.isdir(root) else os.path.dirname(root), collection, generation, th,
                     images=rows, vectors=vectors)
    res.pairs = sorted(pairs.values(), key=lambda p: (p[2], p[0], p[1]))
    if neighbors:
        res.neighbors = nearest_neighbors(index, vectors, neighbors)
    res.seconds = time.time() - t0
    return res
