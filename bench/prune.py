#!/usr/bin/env python3
"""Housekeeping at scale: a registry of N images (a vector each under the live model and under a retired
one, a signature and perceptual hashes for each, verdicts and same-frame results for a share of them, batches
of 500 paths, half of them 60 days old), a share of the images removed, then `neardup prune --dry-run` and
`neardup prune` timed, with what each part held.

  bench/prune.py [--images 100000] [--removed 0.05] [--database-url postgresql://...]
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from sqlalchemy import func, insert, select, update

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def content(i: int) -> str:
    return hashlib.sha256(str(i).encode()).hexdigest()


def fill(rt, n: int, removed: float, dim: int, chunk: int = 20_000) -> tuple[str, str]:
    """N images of one collection, each with its vectors, signature, hashes; a verdict and a same-frame
    result for every tenth image with the next; batches of 500, every other one 60 days old; `removed` of
    them removed. (live version, retired version)"""
    from neardup.encoder import phash
    from neardup.encoder.frame import CHECKER, KEY
    from neardup.pipeline.verify import Verifier
    from neardup.storage import db
    from neardup.storage.registry import ImageStatus

    live, retired = "live00000000", "retired00000"
    now = time.time()
    with rt.engine.begin() as conn:
        conn.execute(insert(db.models), [
            dict(version=retired, path="/retired.keras", info={}, created_at=now - 90 * 86400, active=0),
            dict(version=live, path="/live.keras", info={}, created_at=now - 30 * 86400, active=1, previous=None)])
        conn.execute(insert(db.collections).values(name="catalog", generation=live, building=None, epoch=0))
    rng = np.random.default_rng(0)
    vector = rng.standard_normal(dim).astype(np.float32).tobytes()
    signature = bytes(3000)  # about a same-frame signature's size
    verifier = Verifier().key()
    for start in range(0, n, chunk):
        ids = range(start, min(n, start + chunk))
        with rt.engine.begin() as conn:
            conn.execute(insert(db.images), [dict(id=i + 1, collection="catalog", path=f"/photos/{i}.jpg",
                                                  content_hash=content(i), status=ImageStatus.INDEXED) for i in ids])
            conn.execute(insert(db.vectors), [dict(content_hash=content(i), model_version=v, vector=b)
                                              for i in ids for v, b in ((live, vector), (retired, vector),
                                                                        (KEY, signature), (phash.KEY, bytes(64)))])
            conn.execute(insert(db.hash_buckets), [dict(content_hash=content(i), chunk=c, hash=i, value=i % 65536,
                                                        own=True) for i in ids for c in range(4)])
            conn.execute(insert(db.index_items), [dict(collection="catalog", generation=g, image_id=i + 1, seq=i)
                                                  for i in ids for g in (live, retired)])
            pairs = [sorted((content(i), content(i + 1))) for i in ids if i % 10 == 0 and i + 1 < n]
            conn.execute(insert(db.verdicts), [dict(a_hash=a, b_hash=b, verifier=verifier, same=1, inliers=40,
                                                    duplicate=1) for a, b in pairs])
            conn.execute(insert(db.frame_checks), [dict(a_hash=a, b_hash=b, checker=CHECKER, reason=None)
                                                   for a, b in pairs])
            batches = [(f"b{i}", now - (60 if (i // 500) % 2 else 1) * 86400) for i in ids if i % 500 == 0]
            conn.execute(insert(db.batches), [dict(id=b, collection="catalog", total=500, created_at=t)
                                              for b, t in batches])
            conn.execute(insert(db.batch_items), [dict(batch_id=f"b{i - i % 500}", path=f"/photos/{i}.jpg")
                                                  for i in ids])
    gone = rng.choice(n, int(n * removed), replace=False) + 1
    with rt.engine.begin() as conn:
        for part in np.array_split(gone, max(1, len(gone) // 10_000)):
            conn.execute(update(db.images).where(db.images.c.id.in_(part.tolist())).values(status=ImageStatus.REMOVED))
    return live, retired


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=100_000)
    ap.add_argument("--removed", type=float, default=0.05)
    ap.add_argument("--dim", type=int, default=256)
    ap.add_argument("--database-url", default="", help="PostgreSQL, say (an empty database or schema); else SQLite")
    ap.add_argument("--json", type=Path, default=REPO / "bench" / "results" / "prune.json")
    a = ap.parse_args()

    from neardup.config import Settings
    from neardup.pipeline.prune import prune
    from neardup.pipeline.runtime import Runtime
    from neardup.storage import db

    with tempfile.TemporaryDirectory() as data:
        rt = Runtime(Settings(data_dir=data, database_url=a.database_url))
        t = time.perf_counter()
        fill(rt, a.images, a.removed, a.dim)
        filled = time.perf_counter() - t
        with rt.engine.connect() as conn:
            rows = {t.name: conn.execute(select(func.count()).select_from(t)).scalar()
                    for t in (db.images, db.vectors, db.hash_buckets, db.index_items, db.verdicts, db.frame_checks,
                                                                   db.batch_items)}
        size = Path(data, "neardup.db").stat().st_size / 2**20 if not a.database_url else None
        timings = {}
        for dry in (True, False):
            t = time.perf_counter()
            done = prune(rt, dry_run=dry)
            timings["dry run" if dry else "prune"] = (time.perf_counter() - t, done)
        t = time.perf_counter()
        again = prune(rt)
        timings["again (nothing left)"] = (time.perf_counter() - t, again)
    out = {"images": a.images, "removed": a.removed, "engine": rt.engine.dialect.name, "fill_s": round(filled, 1),
           "rows_before": rows, "db_mb": size,
           "runs": {k: {"seconds": round(s, 2), "rows": d.rows, "files": d.files} for k, (s, d) in timings.items()}}
    print(f"{a.images:,} images, {a.removed:.0%} removed, {out['engine']}"
          + (f", {size:.0f} MB" if size else "") + "; rows: " + ", ".join(f"{k} {v:,}" for k, v in rows.items()))
    print("| run | seconds | rows deleted (or counted) |")
    print("|---|---|---|")
    for name, (s, d) in timings.items():
        print(f"| {name} | {s:.2f} | {sum(d.rows.values()):,} |")
    print("\n" + "\n".join(f"{k}: {v:,}" for k, v in timings["prune"][1].rows.items()))
    a.json.parent.mkdir(parents=True, exist_ok=True)
    a.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
