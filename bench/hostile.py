#!/usr/bin/env python3
"""A folder an attacker or a broken disk would hand neardup, scanned and queued: how long each takes, the
peak memory, and whether every bad file got a reason and every good image was indexed.

The folder: good photos, a named pipe, a name that is not UTF-8, a broken and a looping symlink, and four
sparse 500 MB `.jpg` files. The queued run starts its own Redis and one worker (`neardup worker`).

  bench/hostile.py [--good 40] [--json bench/results/hostile.json]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NEARDUP = [sys.executable, "-m", "neardup"]


def make_folder(root: Path, good: int) -> tuple[int, int]:
    """(good images, bad files) written under root."""
    from PIL import Image

    photos = sorted((REPO / "samples" / "originals").glob("*.jpg"))
    root.mkdir(parents=True)
    for n in range(good):
        im = Image.open(photos[n % len(photos)]).convert("RGB").rotate(90 * (n // len(photos)), expand=True)
        im.save(root / f"good{n:03d}.jpg", quality=90)
    os.mkfifo(root / "pipe.jpg")
    with open(os.path.join(os.fsencode(root), b"odd\xff\xfename.jpg"), "wb") as fh:  # a good image, odd name
        fh.write((root / "good000.jpg").read_bytes())
    os.symlink(root / "nowhere.jpg", root / "broken.jpg")
    os.symlink(root / "loop.jpg", root / "loop.jpg")
    for n in range(4):
        with open(root / f"huge{n}.jpg", "wb") as fh:
            fh.truncate(500 * 1024 * 1024)
    return good + 1, 7


def run_measured(cmd: list[str], env: dict, timeout: float) -> tuple[subprocess.CompletedProcess, float, float]:
    """(the process, seconds, the peak RSS in MB of it and its children)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t = time.time()
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    seconds = time.time() - t
    peak = max(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, before) / 1024
    return proc, seconds, peak


def scan(folder: Path, work: Path, expect_good: int, expect_bad: int) -> dict:
    env = dict(os.environ, NEARDUP_DATA_DIR=str(work / "scan-data"))
    proc, seconds, peak = run_measured([*NEARDUP, "scan", str(folder), "--out", str(work / "out"), "--no-verify"],
                                       env, 600)
    failed = (work / "out" / "failed.csv").read_text(errors="surrogateescape").strip().splitlines()[1:] \
        if proc.returncode == 0 else []
    summary = dict(line.split(None, 1) for line in proc.stderr.splitlines() if line.startswith(("images ", "failed ")))
    return {"exit": proc.returncode, "seconds": round(seconds, 1), "peak_rss_mb": round(peak),
            "bad_reported": len(failed), "bad_expected": expect_bad,
            "good_done": int(summary.get("images", 0)), "good_expected": expect_good}


def queued(folder: Path, work: Path, expect_good: int, expect_bad: int) -> dict:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    redis = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                              "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    env = dict(os.environ, NEARDUP_DATA_DIR=str(work / "queue-data"), NEARDUP_BROKER_URL=f"redis://127.0.0.1:{port}/0",
               NEARDUP_ROOTS=str(folder))
    worker = subprocess.Popen([*NEARDUP, "worker", "-Q", "embed,index,verify", "--concurrency", "2"], cwd=REPO, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        import psutil

        time.sleep(1)
        t = time.time()
        proc = subprocess.run([*NEARDUP, "submit", str(folder), "--wait", "--json"], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=600)
        seconds = time.time() - t
        tree = [psutil.Process(worker.pid), *psutil.Process(worker.pid).children(recursive=True)]
        rss = sum(p.memory_info().rss for p in tree) / 2**20
        st = json.loads(proc.stdout or "{}")  # --wait --json: the result alone
        counts = st.get("counts", {})
        return {"exit": proc.returncode, "seconds": round(seconds, 1), "worker_rss_mb_after": round(rss),
                "bad_reported": counts.get("failed", 0), "bad_expected": expect_bad,
                "good_done": st.get("done", 0) - counts.get("failed", 0), "good_expected": expect_good}
    finally:
        os.killpg(worker.pid, 9)
        redis.kill()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--good", type=int, default=40)
    ap.add_argument("--json", type=Path, default=REPO / "bench" / "results" / "hostile.json")
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="neardup-hostile-"))
    try:
        folder = work / "images"
        good, bad = make_folder(folder, a.good)
        results = {"scan": scan(folder, work, good, bad), "queue": queued(folder, work, good, bad)}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("| path | exit | seconds | peak memory MB | bad files reported | good images |")
    print("|---|---|---|---|---|---|")
    s, q = results["scan"], results["queue"]
    print(f"| scan --no-verify | {s['exit']} | {s['seconds']} | {s['peak_rss_mb']} (largest process) | "
          f"{s['bad_reported']}/{s['bad_expected']} | {s['good_done']}/{s['good_expected']} |")
    print(f"| queue (submit --wait, 1 worker, 2 processes) | {q['exit']} | {q['seconds']} | {q['worker_rss_mb_after']} (worker, after) | "
          f"{q['bad_reported']}/{q['bad_expected']} | {q['good_done']}/{q['good_expected']} |")
    a.json.parent.mkdir(parents=True, exist_ok=True)
    a.json.write_text(json.dumps(results, indent=1))
    print(f"written {a.json}")


if __name__ == "__main__":
    main()
