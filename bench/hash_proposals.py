#!/usr/bin/env python3
"""What the perceptual-hash proposals cost as a collection grows: `phash.near_pairs` over a whole collection
(a scan's or a sweep's second stage) and for one batch against it (the queue's verify step), on random
64-bit hashes with their 7 turns, a tenth of them planted near another image's. Prints a table, writes JSON.

  bench/hash_proposals.py [--sizes 10000 100000 400000] [--batch 500] [--registry 100000]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def collection(n: int, rng) -> tuple[np.ndarray, np.ndarray]:
    hashes = rng.integers(0, 2**63, (n, 8), dtype=np.int64).astype(np.uint64)
    near = rng.choice(n, n // 10, replace=False)
    flips = np.uint64(1) << rng.integers(0, 64, len(near)).astype(np.uint64)
    hashes[near, 0] = hashes[rng.integers(0, n, len(near)), rng.integers(0, 8, len(near))] ^ flips
    return np.arange(n, dtype=np.int64), hashes


def main() -> None:
    from neardup.encoder import phash

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 400_000])
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--registry", type=int, default=0, help="also time a batch's proposals on a registry of this many images")
    ap.add_argument("--json", type=Path, default=REPO / "bench" / "results" / "hash_proposals.json")
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    rows = []
    for n in a.sizes:
        ids, hashes = collection(n, rng)
        t = time.perf_counter()
        pairs = phash.near_pairs(ids, hashes)
        whole = time.perf_counter() - t
        batch = set(rng.choice(n, min(a.batch, n), replace=False).tolist())
        t = time.perf_counter()
        found = phash.near_pairs(ids, hashes, among=batch)
        one_batch = time.perf_counter() - t
        rows.append({"images": n, "pairs": len(pairs), "whole_s": whole, "batch": len(batch),
                     "batch_pairs": len(found), "batch_s": one_batch})
    print("| images | pairs found | whole collection, s | batch | its pairs | batch against the collection, s |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['images']} | {r['pairs']} | {r['whole_s']:.2f} | {r['batch']} | {r['batch_pairs']} | "
              f"{r['batch_s']:.2f} |")
    out = {"hashes": rows}
    if a.registry:
        out["registry"] = r = registry_run(a.registry, a.batch, rng)
        print(f"\nA SQLite registry of {r['images']} images: a batch of {r['batch']} read with every hash of the "
              f"collection {r['whole_s']:.2f} s, from its buckets {r['buckets_s']:.2f} s (same {r['pairs']} pairs); "
              f"the search for hashes kept without buckets, made every {r['fill_every_s']:.0f} s by each worker, "
              f"{r['fill_search_s']:.2f} s")
    a.json.parent.mkdir(parents=True, exist_ok=True)
    a.json.write_text(json.dumps(out, indent=1))


def registry_run(n: int, batch_size: int, rng) -> dict:
    """The queue's verify step's hash proposals on a registry of n images: every hash of the collection read
    and compared, against the batch's buckets read alone (pipeline/verify.py batch_hash_pairs)."""
    from neardup.config import Settings
    from neardup.encoder import phash
    from neardup.pipeline import verify
    from neardup.pipeline.runtime import Runtime
    from neardup.storage.registry import Recorded

    ids, hashes = collection(n, rng)
    with tempfile.TemporaryDirectory() as data:
        registry = Runtime(Settings(data_dir=data)).registry
        contents = [f"{i:012x}" for i in range(n)]
        image_ids = []
        for start in range(0, n, 5000):
            part = contents[start:start + 5000]
            image_ids += registry.record_items("c", [Recorded(f"/p/{c}.jpg", c, 8, 8, 1) for c in part])
            registry.store_hash_buckets({c: phash.buckets(hashes[start + k]) for k, c in enumerate(part)})
            registry.store_vectors(phash.KEY, {c: phash.to_stored(hashes[start + k]) for k, c in enumerate(part)})
        batch = set(rng.choice(image_ids, batch_size, replace=False).tolist())
        verify.batch_hash_pairs(registry, "c", batch)  # the buckets filled once, as a worker's first step does
        t = time.perf_counter()
        whole = {p for p in verify.hash_pairs(registry, "c") if batch & set(p)}
        whole_s = time.perf_counter() - t
        t = time.perf_counter()
        found = verify.batch_hash_pairs(registry, "c", batch)
        buckets_s = time.perf_counter() - t
        t = time.perf_counter()  # what a worker pays every verify.FILL_EVERY seconds: none lacks its buckets here
        assert not registry.lacking_hash_buckets(phash.KEY)
        fill_s = time.perf_counter() - t
    assert found == whole
    return {"images": n, "batch": batch_size, "pairs": len(found), "whole_s": whole_s, "buckets_s": buckets_s,
            "fill_search_s": fill_s, "fill_every_s": verify.FILL_EVERY}


if __name__ == "__main__":
    main()
