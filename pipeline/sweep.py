"""The nightly sweep: all-vs-all over a collection's live generation, from the index itself, with the same
outputs as a scan (pairs, groups, report). Also a consistency check of what ingestion recorded.

Querying every vector against every segment costs (vectors x segments) searches; the sweep instead builds
one throwaway Annoy over everything live and asks it about each of its own items, on every core (Annoy
releases the GIL while it searches). The live index is only read.
"""
from __future__ import annotations

import functools
import os
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from neardup.encoder.crowding import candidates
from neardup.storage import segments
from neardup.storage.index import nearest_of

from . import verify
from .agreement import Agreement
from .labels import Frames
from .scan import ScanResult
from .siblings import applied

MAP_POINTS = 2000  # images on the report's map: every grouped one, then a sample of the rest


def sweep(rt, collection: str, neighbors: int = 0, progress=None, workers: int | None = None) -> ScanResult:
    t0 = time.time()
    generation, _ = rt.generations(collection)
    if generation is None:
        raise LookupError(f"collection {collection!r} has nothing indexed")
    info = rt.model_info(generation)
    th = rt.thresholds(info)
    index = rt.index(collection, generation, info.dim)
    checks = verify.settings_for(rt.settings, info)
    verifying = verify.enabled(checks)
    k = verify.neighbours_to_find(checks, neighbors)
    # neighbours kept only for verification: those it would check (a million images' 10 nearest would not fit)
    keep = functools.partial(verify.checked_of, settings=checks, thresholds=th) \
        if verifying and not neighbors else None
    tmp = Path(tempfile.mkdtemp(prefix="sweep-", dir=Path(rt.settings.data_dir)))
    try:
        crowds = []

        def crowded(chunks):
            """The live vectors as they stream into the throwaway index, their crowding worked out on the way."""
            for chunk_ids, vecs in chunks:
                if index.crowding is not None:
                    crowds.append(index.crowding.of(np.asarray(vecs)))
                yield chunk_ids, vecs

        segments.build_chunks(tmp / "all", crowded(index.live()), info.dim, durable=False, on_disk=True)
        everything = segments.Segment(tmp / "all")
        if crowds:
            everything.set_crowds(np.concatenate(crowds))
        ids = np.asarray(everything.ids)
        agreement = Agreement(rt, collection, generation, th)  # the distances as the scan reports them
        # the neighbours the pull may bring within verification's radius are kept; which it checks is decided
        #   on the pulled distances, as a scan decides it
        reach = verify.radius_for(checks, th) + agreement.by
        found = _search_all(everything, th["match"] + agreement.by, k, progress, workers or os.cpu_count() or 1,
                            (lambda near: [(q, d) for q, d in near if d <= reach]) if keep else None,
                            index.crowding, rt.settings.max_partners)
        hits = agreement.nearest({int(ids[p]): [(int(ids[q]), d) for q, d in h] for p, h, _ in found})
        close = {}  # {(a, b): distance}, a pair from either side: one may be among the other's nearest only
        for i, near in hits.items():
            close.update(((min(i, o), max(i, o)), round(d, 6)) for o, d in
                         nearest_of([(o, d) for o, d in near if d <= th["match"]], rt.settings.max_partners))
        near = [(q, n, d) for q, nearest in agreement.nearest(
            {int(ids[p]): [(int(ids[q]), d) for q, d in n] for p, _, n in found}).items()
                for n, d in (keep(nearest) if keep else nearest)]
        paired = rt.registry.images(ids=sorted({i for pair in close for i in pair}))
        frames = Frames(rt, paired)
        frames.check_ahead(close)
        pairs = applied([(a, b, d, frames.label(a, b, d, th)) for (a, b), d in close.items()], frames)
        frames.keep()
        sample = _map_sample(ids, pairs)
        vectors = {int(ids[p]): np.array(everything.annoy.get_item_vector(p), np.float32) for p in sample}
        wanted = {i for row in (*pairs, *near) for i in row[:2]} | set(vectors)
        rows = {r.id: r for r in rt.registry.images(ids=sorted(wanted))}
        root = os.path.commonpath([r.path for r in rows.values()]) if rows else "/"
        res = ScanResult(root if os.path.isdir(root) else os.path.dirname(root), collection, generation, th,
                         images=rows, vectors=vectors, total=len(ids), previews=rt.previews,
                         frames=functools.partial(Frames.of, rt))
        res.pairs = sorted(pairs, key=lambda p: (p[2], p[0], p[1]))
        res.neighbors = near
        res.verified = verify.second_stage(rt, checks, res, set(ids.tolist()), neighbors)
        everything.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    res.seconds = time.time() - t0
    return res


def _nearest(seg, lookup, n: int, query_crowd: float, crowding) -> list[tuple[int, float]]:
    """The n nearest positions of `lookup` (a segment's Annoy search: n, include_distances), by the distance
    with the crowding penalty: ranked again among more of the nearest by plain distance, as the index does."""
    if crowding is None:
        return list(zip(*lookup(n, include_distances=True)))
    idx, dist = lookup(candidates(n), include_distances=True)
    if not idx:
        return []
    dist = crowding.adjusted(dist, query_crowd, seg.crowds(np.asarray(idx), crowding))
    return sorted(zip(idx, dist.tolist()), key=lambda t: t[1])[:n]


def _search_all(seg, radius: float, neighbors: int, progress, workers: int, keep=None, crowding=None,
                most: int = 0, chunk: int = 2048):
    """[(position, [(other position, distance) within radius, its `most` nearest if `most` > 0],
    [(other position, distance) k nearest, only those `keep` keeps of them if given])], distances with
    `crowding`'s penalty if given."""

    def one_chunk(start):
        out = []
        for p in range(start, min(len(seg), start + chunk)):
            local, dist = seg.within_item(p, radius, most=candidates(most + 1) if most else 0)
            crowd = seg.crowds(np.array([p]), crowding)[0] if crowding is not None else 0.0
            if crowding is not None and len(local):
                dist = crowding.adjusted(dist, crowd, seg.crowds(local, crowding))
                local, dist = local[dist <= radius], dist[dist <= radius]
            hits = nearest_of([(int(q), float(d)) for q, d in zip(local, dist) if q != p], most)
            nearest = []
            if neighbors:
                lookup = functools.partial(seg.annoy.get_nns_by_item, p)
                nearest = [(q, d) for q, d in _nearest(seg, lookup, neighbors + 1, crowd, crowding) if q != p][:neighbors]
                if keep:
                    nearest = keep(nearest)
            if hits or nearest:  # most images have neither: keep nothing for them
                out.append((p, hits, nearest))
        if progress:
            progress(min(len(seg), start + chunk) - start)
        return out

    with ThreadPoolExecutor(workers) as pool:
        return [row for part in pool.map(one_chunk, range(0, len(seg), chunk)) for row in part]


def _map_sample(ids: np.ndarray, pairs: list) -> list[int]:
    """Positions of the images the report's map shows: those in pairs first, then evenly spaced others."""
    paired = {i for a, b, _, _ in pairs for i in (a, b)}
    pos = [p for p, i in enumerate(ids.tolist()) if i in paired][:MAP_POINTS]
    rest = MAP_POINTS - len(pos)
    if rest > 0:
        pos += np.linspace(0, len(ids) - 1, min(rest, len(ids)), dtype=int).tolist()
    return sorted(set(pos))
