#!/usr/bin/env python3
"""Ingestion through the queue as users run it: a Redis server, one `neardup worker` on the embed, index and
verify queues with `--concurrency` processes, batches submitted with the Python client
(`Client().submit(...)`), timed from the first submit until every image has its embedding's answer (`indexed`,
what `result(verified=False)` waits for) and until every image has its final label; next to a scan of the
same files in one process with as many threads. A warm-up batch of other files loads the workers' models
first. Prints a table, writes JSON.

  bench/queue_throughput.py [--folder bench-data/dev | --photos 4MP] [--n 600] [--batch 100] [--concurrency 2]
                            [--rounds 1]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.throughput import PHOTOS, SIZES, make_photos, neardup_rate, with_copies  # noqa: E402
from tests.cluster import RedisServer  # noqa: E402  (a throwaway redis-server on a free port)


def linked(files: list[Path], out: Path) -> list[str]:
    """The files hard-linked into `out` (inside the configured root; no copy, no symlink out of it)."""
    out.mkdir(parents=True, exist_ok=True)
    for f in files:
        os.link(f, out / f.name)
    return [str(out / f.name) for f in files]


def start_worker(env: dict, concurrency: int, log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "neardup", "worker", "-Q", "embed,index,verify",
                             "--concurrency", str(concurrency), "--without-gossip", "--without-mingle"],
                            cwd=REPO, env=env, stdout=open(log, "ab"), stderr=subprocess.STDOUT, start_new_session=True)


def queued(client, files: list[str], batch: int, collection: str, timeout: float) -> dict:
    """Seconds from the first submit until every image is indexed and until every image is final."""
    t, cpu = time.perf_counter(), time.process_time()
    handles = [client.submit(files[i:i + batch], collection) for i in range(0, len(files), batch)]
    indexed = None
    while True:
        states = [h.status() for h in handles]  # an image waiting for the verify step has its embedding's answer
        final = sum(st["done"] for st in states)
        fast = final + sum(st["counts"].get("verifying", 0) for st in states)
        if indexed is None and fast == len(files):
            indexed = time.perf_counter() - t
        if final == len(files):
            return {"indexed_s": indexed, "final_s": time.perf_counter() - t, "client_cpu_s": time.process_time() - cpu}
        if time.perf_counter() - t > timeout:
            raise TimeoutError(f"{fast}/{len(files)} indexed after {timeout} s")
        time.sleep(0.5)


def queued_round(a, found: list[Path], tmp: Path, broker_url: str, r: int) -> dict:
    """One round: a worker on a new registry, its warm-up batch, the timed batches, then the scan."""
    from neardup.config import load
    from neardup.worker.client import Client

    data, images = tmp / f"data-{r}", tmp / f"images-{r}"
    env = dict(os.environ, NEARDUP_BROKER_URL=broker_url, NEARDUP_DATA_DIR=str(data), NEARDUP_ROOTS=str(images),
               TF_CPP_MIN_LOG_LEVEL="3", PYTHONUNBUFFERED="1")
    worker = start_worker(env, a.concurrency, tmp / "worker.log")
    try:
        client = Client(load(broker_url=broker_url, data_dir=str(data), roots=[str(images)]))
        client.submit(linked(found[-20:], images / "warm-up"), "warm-up").result(timeout=a.timeout)
        files = linked(found[:a.n], images / "timed")
        row = queued(client, files, a.batch, "timed", a.timeout)
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=60)
        if a.log:
            shutil.copy(tmp / "worker.log", a.log)
    row["scan_s"] = len(files) / neardup_rate(str(images / "timed"), a.concurrency, None)  # a cold scan
    shutil.rmtree(images, ignore_errors=True)
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--folder", type=Path, default=REPO / "bench-data" / "dev")
    ap.add_argument("--photos", choices=SIZES, help="instead of --folder: photos of this size, a re-encoded copy "
                    "of every other one beside it (bench/throughput.py, made once under bench-data/throughput)")
    ap.add_argument("--n", type=int, default=600, help="images queued (the first n of the folder, by name)")
    ap.add_argument("--batch", type=int, default=100, help="images per submitted batch")
    ap.add_argument("--concurrency", type=int, default=os.cpu_count(), help="worker processes (and scan threads)")
    ap.add_argument("--rounds", type=int, default=1, help="queue and scan this many times in turn; medians")
    ap.add_argument("--timeout", type=float, default=1800.0)
    ap.add_argument("--log", type=Path, help="keep the worker's log here")
    ap.add_argument("--json", type=Path, default=REPO / "bench" / "results" / "queue_throughput.json")
    a = ap.parse_args()
    from neardup.encoder.decode import find_images

    if a.photos:
        count = (2 * (a.n + 20) + 2) // 3  # with a copy of every other one: n and the warm-up's 20
        a.folder = Path(with_copies(make_photos(a.photos, SIZES[a.photos], count), PHOTOS / f"{a.photos}-copies-{count}"))
    found = sorted(Path(p) for p in find_images(str(a.folder))[0])
    if len(found) < a.n + 20:
        sys.exit(f"{a.folder} holds {len(found)} images: fewer than --n {a.n} and 20 for the warm-up")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        redis = RedisServer(tmp)
        redis.start()
        try:
            for r in range(a.rounds):  # each round on a new registry: nothing reused from the one before
                rows.append(queued_round(a, found, tmp, redis.url, r))
                print(f"round {r}: queue indexed {rows[-1]['indexed_s']:.1f} s, final {rows[-1]['final_s']:.1f} s; "
                      f"scan {rows[-1]['scan_s']:.1f} s", flush=True)
        finally:
            redis.kill()
    median = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
    rates = {"queue, embedding's answer (indexed)": a.n / median["indexed_s"],
             "queue, final labels": a.n / median["final_s"], "scan": a.n / median["scan_s"]}
    print(f"\n{a.n} images of {a.folder}, batches of {a.batch}, {a.concurrency} worker processes / scan threads, "
          f"{a.rounds} round(s), medians")
    print("| | images/s | of the scan's |\n|---|---|---|")
    for name, rate in rates.items():
        print(f"| {name} | {rate:.1f} | {rate / rates['scan']:.2f} |")
    a.json.parent.mkdir(parents=True, exist_ok=True)
    a.json.write_text(json.dumps({"folder": str(a.folder), "n": a.n, "batch": a.batch,
                                  "concurrency": a.concurrency, "rounds": rows, "images_per_s": rates}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
