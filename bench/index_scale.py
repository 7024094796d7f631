#!/usr/bin/env python3
"""The index at scale: N random unit vectors of the shipped model's dimension, inserted in batches into
storage/ as the index step does it (buffer, sealing, merging), the last few batches through the whole index
step (search included), then query latency, the removal of a share of the collection (a catalogue's deleted
listings) and the queries again, and a full sweep. Near copies are planted across batches so the recall of
true pairs can be measured against exact search.

  bench/index_scale.py [--n 1000000] [--batch 1000] [--remove 0.1]
"""
from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from sqlalchemy import insert

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


class AnonPeak(threading.Thread):
    """The peak of this process's anonymous resident memory (RSS less its file-backed pages: the mmapped
    segments and the sweep's on-disk Annoy, which are page cache the kernel can reclaim), sampled 5x a second."""

    def __init__(self):
        super().__init__(daemon=True)
        self.peak_mb = 0.0

    def run(self):
        import psutil

        proc = psutil.Process()
        while True:
            m = proc.memory_info()
            self.peak_mb = max(self.peak_mb, (m.rss - m.shared) / 2**20)
            time.sleep(0.2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--plant-every", type=int, default=100)
    ap.add_argument("--tail-batches", type=int, default=5, help="final batches run through the full index step")
    ap.add_argument("--remove", type=float, default=0.1, help="share of the images removed before the sweep")
    ap.add_argument("--json", type=Path, default=REPO / "bench" / "results" / "index_scale.json")
    a = ap.parse_args()

    from neardup.config import Settings
    from neardup.encoder.artifact import DEFAULT_MODEL, read_info
    from neardup.pipeline.index import index_batch
    from neardup.pipeline.remove import take_out
    from neardup.pipeline.runtime import Runtime
    from neardup.pipeline.sweep import sweep
    from neardup.storage import db

    info = read_info(DEFAULT_MODEL)
    dim, th = info.dim, info.thresholds
    rng = np.random.default_rng(0)
    noise = 0.25 * th["match"] / np.sqrt(dim)
    planted = [(i, i + 2 * a.batch + 1) for i in range(0, a.n - a.batch * 3, a.plant_every)]  # two batches on
    planted_into: dict[int, list] = {}  # batch -> the planted pairs whose copy it holds
    for i, j in planted:
        planted_into.setdefault(j // a.batch, []).append((i, j))

    def unit(x):
        return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)

    def base(b):
        return unit(np.random.default_rng((0, b)).normal(size=(a.batch, dim)))

    def batch_vectors(b):
        """Batch b, made on demand (the benchmark holds no copy of the collection): random unit vectors,
        some of them near copies of batch b-2's."""
        v = base(b)
        if b in planted_into:
            earlier = base(b - 2)
            for i, j in planted_into[b]:
                near = earlier[i % a.batch] + np.random.default_rng((1, j)).normal(scale=noise, size=dim)
                v[j % a.batch] = unit(near[None])[0]
        return v[: min(a.batch, a.n - b * a.batch)]

    raw_mb = a.n * dim * 4 / 2**20
    rss_start = peak_rss_mb()
    anon = AnonPeak()
    anon.start()

    data = Path(tempfile.mkdtemp(prefix="neardup-scale-"))
    rt = Runtime(Settings(data_dir=str(data), model=str(DEFAULT_MODEL), verify=False))  # vectors without images
    with rt.engine.begin() as conn:  # registry rows in bulk: this benchmark measures the index
        for s in range(0, a.n, 50_000):
            conn.execute(insert(db.images), [dict(id=i + 1, collection="scale", path=f"/x/{i}.jpg", content_hash=f"{i:x}",
                                                  status="pending") for i in range(s, min(a.n, s + 50_000))])
    rt.models.register("scale", str(DEFAULT_MODEL), info.__dict__)
    rt.set_generations("scale", generation="scale")
    index = rt.index("scale", "scale", dim)
    tail = a.n - a.tail_batches * a.batch  # the last batches go through the whole index step, search included

    # 1. storage: what the index step does after its search (buffer, sealing, merging), batch by batch
    insert_s = 0.0
    wall = time.perf_counter()
    for s in range(0, tail, a.batch):
        ids = np.arange(s, min(tail, s + a.batch)) + 1
        v = batch_vectors(s // a.batch)  # making the data is not timed
        t0 = time.perf_counter()
        with rt.engine.begin() as conn:
            index.commit(conn, ids, v)
        index.after_commit(ids, v)
        insert_s += time.perf_counter() - t0
        if s and s % (a.n // 10) < a.batch:
            el = insert_s
            print(f"  {s + a.batch:>9} inserted, {(s + a.batch) / el:,.0f} vectors/s, {len(index.segments)} segments",
                  file=sys.stderr)
    t0 = time.perf_counter()
    index.install_merges(wait=True)  # a merge still running in the background is part of inserting
    insert_s += time.perf_counter() - t0
    insert_wall_s = time.perf_counter() - wall  # making the vectors included: the merge process ran then too
    rss_after_insert = rss_mb()
    # 2. the index step as ingestion runs it: search every new vector, record pairs and states, commit
    t = time.perf_counter()
    for s in range(tail, a.n, a.batch):
        ids = np.arange(s, min(a.n, s + a.batch)) + 1
        index_batch(rt, index, ids, batch_vectors(s // a.batch), th)
    step_per_s = (a.n - tail) / max(time.perf_counter() - t, 1e-9)
    # 3. one query, as a search request (every image within the match distance) or the index step (its
    #    max_partners nearest of them) sees it
    queries = np.concatenate([batch_vectors(b)[:10] for b in rng.choice(a.n // a.batch, 100, replace=False)])

    def latencies(most: int) -> list[float]:
        out = []
        for q in queries:
            t = time.perf_counter()
            index.within(q[None], th["match"], most)
            out.append(time.perf_counter() - t)
        return out

    lat, bounded = latencies(0), latencies(rt.settings.max_partners)
    t = time.perf_counter()  # each stored query's 11 nearest (itself and 10 others) in one call, as a scan or a verify step asks
    index.nearest_each(queries, 11)
    neighbours_ms = 1000 * (time.perf_counter() - t) / len(queries)
    # 4. a share of the collection removed in one transaction, then the same queries
    removed = rng.choice(a.n, int(a.remove * a.n), replace=False)
    t = time.perf_counter()
    with rt.engine.begin() as conn:
        take_out(conn, rt, "scale", (removed + 1).tolist())
    remove_s = time.perf_counter() - t
    t = time.perf_counter()
    index.refresh()
    refresh_s = time.perf_counter() - t
    lat_removed, bounded_removed = latencies(0), latencies(rt.settings.max_partners)
    # 5. the nightly sweep
    rss_before_sweep = rss_mb()
    t = time.perf_counter()
    res = sweep(rt, "scale")
    sweep_s = time.perf_counter() - t
    found = {(p[0] - 1, p[1] - 1) for p in res.pairs}
    gone = set(removed.tolist())
    kept = [(i, j) for i, j in planted if i not in gone and j not in gone]
    recall = sum((i, j) in found for i, j in kept) / max(1, len(kept))
    assert not {i for pair in found for i in pair} & gone, "the sweep named a removed image"
    disk_mb = sum(f.stat().st_size for f in data.rglob("*") if f.is_file()) / 2**20
    out = {"n": a.n, "dim": dim, "batch": a.batch, "insert_s": insert_s, "insert_per_s": tail / insert_s,
           "insert_wall_s": insert_wall_s, "insert_wall_per_s": tail / insert_wall_s,
           "index_step_per_s": step_per_s, "sweep_s": sweep_s,
           "query_p50_ms": 1000 * float(np.percentile(lat, 50)), "query_p99_ms": 1000 * float(np.percentile(lat, 99)),
           "bounded_query_p50_ms": 1000 * float(np.percentile(bounded, 50)), "nearest_11_ms_per_query": neighbours_ms,
           "removed": len(removed), "remove_s": remove_s, "refresh_after_remove_s": refresh_s,
           "query_p50_after_remove_ms": 1000 * float(np.percentile(lat_removed, 50)),
           "bounded_query_p50_after_remove_ms": 1000 * float(np.percentile(bounded_removed, 50)),
           "planted_pairs": len(planted), "planted_pairs_kept": len(kept), "planted_recall": recall, "pairs_found": len(res.pairs),
           "segments": len(index.segments), "peak_rss_mb": peak_rss_mb(), "peak_anon_mb": anon.peak_mb, "rss_before_index_mb": rss_start,
           "rss_after_insert_mb": rss_after_insert, "rss_before_sweep_mb": rss_before_sweep,
           "raw_vectors_mb": raw_mb, "disk_mb": disk_mb}
    print("| n | insert vectors/s | (wall clock) | index step (with search) vectors/s | sweep s | query p50 ms | query p99 ms "
          "| planted recall | peak RSS MB | peak anonymous MB | raw MB | disk MB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    print(f"| {a.n:,} | {out['insert_per_s']:,.0f} | {out['insert_wall_per_s']:,.0f} | {step_per_s:,.0f} | {sweep_s:.1f} | {out['query_p50_ms']:.2f} "
          f"| {out['query_p99_ms']:.2f} | {recall:.4f} | {out['peak_rss_mb']:.0f} | {anon.peak_mb:.0f} | {raw_mb:.0f} | {disk_mb:.0f} |")
    print(f"\nremoving {len(removed):,} images: {remove_s:.1f} s in one transaction, the index re-read in {refresh_s:.2f} s; "
          f"query p50 {out['query_p50_ms']:.2f} -> {out['query_p50_after_remove_ms']:.2f} ms, bounded to "
          f"max_partners {out['bounded_query_p50_ms']:.2f} -> {out['bounded_query_p50_after_remove_ms']:.2f} ms")
    print(f"the 11 nearest of each of {len(queries)} queries in one call: {neighbours_ms:.3f} ms a query")
    a.json.parent.mkdir(parents=True, exist_ok=True)
    a.json.write_text(json.dumps(out, indent=1))
    shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
