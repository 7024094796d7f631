#!/usr/bin/env python3
"""One picture stored many times (a placeholder, a stock photo every seller uploads): `neardup scan` of N files
of it, half of the same bytes and half re-encoded, with each image's pairs bounded (`max_partners`, the
default) and with every pair kept (`max_partners = 0`). Seconds, peak memory, pairs, groups and the size of
pairs.csv, each scan in a process of its own. Prints a table, writes JSON.

  bench/copies.py [--n 1000] [--side 320] [--bounded-only] [--json bench/results/copies.json]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def make_folder(folder: Path, n: int, side: int) -> None:
    from PIL import Image

    photo = sorted((REPO / "samples" / "originals").glob("*.jpg"))[0]
    im = Image.open(photo).convert("RGB")
    im.thumbnail((side, side))
    folder.mkdir(parents=True)
    im.save(folder / "original.jpg", quality=90)
    data = (folder / "original.jpg").read_bytes()
    for k in range(1, n):
        if k % 2:
            (folder / f"same_{k:05d}.jpg").write_bytes(data)
        else:
            im.save(folder / f"again_{k:05d}.jpg", quality=60 + k % 36)


def timed_scan(folder: Path, work: Path, max_partners: int) -> dict:
    out, data = work / f"out-{max_partners}", work / f"data-{max_partners}"
    env = {**os.environ, "NEARDUP_MAX_PARTNERS": str(max_partners), "NEARDUP_DATA_DIR": str(data)}
    t = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "neardup", "scan", str(folder), "--out", str(out)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(proc.stderr.read().decode())
    pairs = out / "pairs.csv"
    groups = json.loads((out / "groups.json").read_text())
    return {"max_partners": max_partners, "seconds": seconds, "peak_rss_mb": usage.ru_maxrss / 1024,
            "pairs": sum(1 for _ in open(pairs)) - 1, "pairs_csv_mb": pairs.stat().st_size / 1e6,
            "groups": len(groups["groups"]),
            "database_mb": sum(f.stat().st_size for f in data.rglob("*") if f.is_file()) / 1e6}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1000, help="files of the one picture")
    ap.add_argument("--side", type=int, default=320, help="its long side, px")
    ap.add_argument("--bounded-only", action="store_true", help="skip the scan that keeps every pair")
    ap.add_argument("--json", type=Path, default=REPO / "bench" / "results" / "copies.json")
    a = ap.parse_args()
    from neardup.config import Settings

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "copies"
        make_folder(folder, a.n, a.side)
        rows = [timed_scan(folder, Path(tmp), m) for m in (Settings().max_partners, 0)[:1 if a.bounded_only else 2]]
    print(f"{a.n} files of one {a.side}-px picture (half of the same bytes), `neardup scan`, verification on")
    print("| max_partners | seconds | peak RSS MB | pairs | pairs.csv MB | data dir MB | groups |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['max_partners'] or '0 (all)'} | {r['seconds']:.1f} | {r['peak_rss_mb']:.0f} | {r['pairs']:,} | "
              f"{r['pairs_csv_mb']:.1f} | {r['database_mb']:.0f} | {r['groups']} |")
    a.json.parent.mkdir(parents=True, exist_ok=True)
    a.json.write_text(json.dumps({"n": a.n, "side": a.side, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
