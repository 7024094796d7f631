#!/usr/bin/env python3
"""The queue's answer against the scan's on a benchmark: the same images through the queue's steps (embed,
index, verify; in this process, no Redis) in shuffled batches, some verified at once and some only after
later batches were indexed, then every pair and label compared with a scan's, both scored by the benchmark's
score.py. Also times what the queue's steps would hold the collection's writer lock for (the index step, and
the verify step's second look and its write): what bounds one collection's ingestion however many workers it
has. Prints a table and writes JSON.

  bench/queue_vs_scan.py                         # the dev benchmark (built by bench/quality.py)
  bench/queue_vs_scan.py --bench bench-data/seed7 --batch 50 --seed 3
"""
from __future__ import annotations

import argparse
import contextlib
import json
import random
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.quality import build, score  # noqa: E402

COLUMNS = ["dup_precision", "dup_recall", "match_precision", "match_recall"]


class Held:
    """A stand-in for the collection's lock (one process here) that adds up the seconds it is held."""

    def __init__(self):
        self.seconds = 0.0

    @contextlib.contextmanager
    def __call__(self):
        t = time.perf_counter()
        try:
            yield
        finally:
            self.seconds += time.perf_counter() - t


def queued(settings, files: list[str], batch: int, seed: int) -> tuple[set, float, dict]:
    """The queue's pairs {(path a, path b, label)}, its seconds, and the seconds each step would hold the
    collection's lock."""
    from neardup.pipeline.runtime import Runtime
    from neardup.pipeline.steps import embed_step, index_step, sign_step
    from neardup.pipeline.verify_batch import verify_batch

    rt = Runtime(settings)
    order = files[:]
    random.Random(seed).shuffle(order)
    t, late, index_lock, verify_lock = time.time(), [], Held(), Held()
    for n, start in enumerate(range(0, len(order), batch)):
        for generation, ids in embed_step(rt, "queued", order[start:start + batch], None).items():
            sign_step(rt, "queued", generation, ids)  # as the index task does before it takes the lock
            with index_lock():
                index_step(rt, "queued", generation, ids, verifying=True)
            (late.append(ids) if n % 2 else verify_batch(rt, "queued", ids, verify_lock))
    for ids in late:
        verify_batch(rt, "queued", ids, verify_lock)
    seconds = time.time() - t
    generation, _ = rt.generations("queued")
    paths = {r.id: r.path for r in rt.registry.images(collection="queued")}
    return {(*sorted((paths[a], paths[b])), label) for a, b, _, label in rt.registry.pairs_in("queued", generation)}, \
        seconds, {"index": round(index_lock.seconds, 1), "verify": round(verify_lock.seconds, 1)}


def write_pairs(pairs: set, root: Path, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "pairs.csv", "w") as f:
        f.write("a,b,distance,label\n")
        for a, b, label in sorted(pairs):
            f.write(f"{Path(a).relative_to(root)},{Path(b).relative_to(root)},0,{label}\n")
    (out / "neighbors.csv").write_text("query,neighbor,distance\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", type=Path, default=REPO / "bench-data" / "dev")
    ap.add_argument("--source", type=Path, default=REPO.parent / "shared" / "data" / "dev")
    ap.add_argument("--batch", type=int, default=50, help="images per queued batch")
    ap.add_argument("--seed", type=int, default=0, help="shuffles the order the batches arrive in")
    ap.add_argument("--json", type=Path, default=REPO / "bench" / "results" / "queue_vs_scan.json")
    a = ap.parse_args()
    if not (a.bench / "truth.json").exists():
        build(a.source, a.bench, 100, 200, 1)
    from neardup.config import load
    from neardup.encoder.decode import find_images
    from neardup.pipeline.scan import Scanner

    root = a.bench.resolve()
    with tempfile.TemporaryDirectory() as data, tempfile.TemporaryDirectory() as out:
        settings = load(data_dir=data, roots=[str(root)])
        t = time.time()
        res = Scanner(settings, "scanned").scan(str(root))
        scan_seconds = time.time() - t
        scan = {(*sorted((res.images[x].path, res.images[y].path)), label) for x, y, _, label in res.pairs}
        # a separate registry: the queue reaches its own verdicts rather than reusing the scan's
        settings = load(data_dir=str(Path(data) / "queue"), roots=[str(root)])
        queue, queue_seconds, held = queued(settings, sorted(find_images(str(root))[0]), a.batch, a.seed)
        figures = {}
        for name, pairs in (("scan", scan), ("queue", queue)):
            write_pairs(pairs, root, Path(out) / name)
            figures[name] = score(a.bench, Path(out) / name)
    result = {"bench": str(a.bench), "batch": a.batch, "seed": a.seed, "pairs": {"scan": len(scan), "queue": len(queue)},
              "only_scan": sorted(scan - queue), "only_queue": sorted(queue - scan),
              "seconds": {"scan": round(scan_seconds, 1), "queue": round(queue_seconds, 1)}, "lock_held_seconds": held,
              "figures": {k: {c: v.get(c) for c in COLUMNS} for k, v in figures.items()}}
    print(f"{'':8}{'pairs':>8}{'only here':>11}" + "".join(f"{c:>17}" for c in COLUMNS) + f"{'seconds':>9}")
    for name, mine, theirs in (("scan", scan, queue), ("queue", queue, scan)):
        row = figures[name]
        print(f"{name:8}{len(mine):>8}{len(mine - theirs):>11}"
              + "".join(f"{row.get(c, float('nan')):>17.3f}" for c in COLUMNS)
              + f"{result['seconds'][name]:>9}")
    print(f"the queue's steps would hold the collection's lock for {held['index']} s (index) and {held['verify']} s "
          f"(verify) of its {result['seconds']['queue']} s")
    for a_, b_, label in result["only_scan"][:10] + result["only_queue"][:10]:
        side = "scan" if (a_, b_, label) in scan else "queue"
        print(f"  only {side}: {Path(a_).name} {Path(b_).name} {label}")
    a.json.parent.mkdir(parents=True, exist_ok=True)
    a.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
