#!/usr/bin/env python3
"""What labelling a found pair costs: the same-frame check (encoder/frame/) and its overlay tests (64, 128, 256 px),
per pair, on copies of the bundled sample photos (benign copies, which go through every test, and edits);
and what telling a person about a match costs: its reason (explained(), the report and the queue's status)
and which copy a frame is round (framed_round(), the keeper of a group without duplicates); and what an image's
signature costs by its size. Prints tables and writes JSON.

  bench/labels.py [--repeat 200]
  bench/labels.py --bench bench-data/dev [--rounds 3]   # the check over the pairs a scan of a benchmark labels

With --bench: the pairs a --no-verify scan of the folder labels, each paired image signed from its file, then
difference() of every pair and explained() of every match, CPU ms each (the least of --rounds), the reasons
found, and a digest of them all: a change meant to make the check faster, not different, keeps the digest.
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from PIL import Image, ImageEnhance, ImageOps

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

COPIES = {
    "jpeg q40": lambda im: im,
    "half size": lambda im: im.resize((im.width // 2, im.height // 2)),
    "more contrast": lambda im: ImageEnhance.Contrast(im).enhance(1.15),
    "mirrored": ImageOps.mirror,
    "framed": lambda im: ImageOps.expand(im, border=im.width // 20, fill=(200, 60, 40)),
    "cropped 30 %": lambda im: im.crop((im.width * 15 // 100, im.height * 15 // 100, im.width * 85 // 100,
                                        im.height * 85 // 100)),
}
TIMED = ("same_frame", "overlay", "finer_overlay", "finest_overlay", "explained", "framed_round")


def jpeg(im: Image.Image, quality: int = 85) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=200, help="times each pair is labelled")
    ap.add_argument("--bench", type=Path, help="a benchmark folder: time the check over the pairs a scan labels")
    ap.add_argument("--rounds", type=int, default=3, help="with --bench: rounds, the least CPU time kept")
    ap.add_argument("--json", type=Path, default=REPO / "bench" / "results" / "labels.json")
    a = ap.parse_args()
    if a.bench:
        out = benchmark_check(a.bench, a.rounds)
        print(f"{a.bench}: {out['pairs']} pairs, {out['matches']} matches, {out['images']} images signed "
              f"({out['signature_ms']:.2f} ms each); difference() {out['difference_ms']:.2f} ms a pair, "
              f"explained() {out['explained_ms']:.2f} ms a match; digest {out['digest']}")
        print("reasons: " + ", ".join(f"{why} {n}" for why, n in out["reasons"].items()))
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps(out, indent=1))
        return
    from neardup.encoder import frame
    from neardup.encoder.decode import signature_of

    photos = sorted((REPO / "samples" / "originals").glob("*.jpg"))
    rows = {}
    for name, edit in COPIES.items():
        pairs = []
        for p in photos:
            im = Image.open(p).convert("RGB")
            pairs.append((signature_of(jpeg(im, 90)), signature_of(jpeg(edit(im), 40))))
        timings = {}
        for label in TIMED:
            fn = getattr(frame, label)
            t = time.perf_counter()
            for _ in range(a.repeat):
                for x, y in pairs:
                    fn(x, y)
            timings[label] = 1000 * (time.perf_counter() - t) / (a.repeat * len(pairs))
        rows[name] = {**timings, "duplicate": sum(frame.same_frame(x, y) for x, y in pairs) / len(pairs)}
    print(f"{'copy':16}" + "".join(f"{label + ' ms':>18}" for label in TIMED) + f"{'duplicate':>11}")
    for name, r in rows.items():
        print(f"{name:16}" + "".join(f"{r[label]:>18.2f}" for label in TIMED) + f"{r['duplicate']:>11.2f}")
    signing = signature_rates(photos, max(1, a.repeat // 20), signature_of)
    print(f"\n{'long side px':>14}{'signature ms':>14}")
    for side, ms in signing.items():
        print(f"{side:>14}{ms:>14.2f}")
    a.json.parent.mkdir(parents=True, exist_ok=True)
    a.json.write_text(json.dumps({"repeat": a.repeat, "photos": len(photos), "copies": rows,
                                  "signature_ms_by_long_side": signing}, indent=1))


def benchmark_check(bench: Path, rounds: int) -> dict:
    """The same-frame check over the pairs a --no-verify scan of `bench` labels (main()'s --bench), on one core as
    a scan's check processes run it."""
    import cv2

    from neardup.config import load
    from neardup.encoder import frame
    from neardup.encoder.decode import read_bytes, signature_of
    from neardup.pipeline.scan import Scanner

    cv2.setNumThreads(1)
    with tempfile.TemporaryDirectory() as data:
        res = Scanner(load(data_dir=data, verify=False), "bench").scan(str(bench), neighbors=10)
        pairs = [(res.rel(x), res.rel(y)) for x, y, *_ in res.pairs]
    names = sorted({name for pair in pairs for name in pair})
    t = time.process_time()
    frames = {name: signature_of(read_bytes(str(bench / name))) for name in names}
    signing = time.process_time() - t

    def least(fn, todo) -> tuple[float, list]:
        best = float("inf")
        for _ in range(rounds):
            t = time.process_time()
            found = [fn(frames[x], frames[y], *known) for x, y, *known in todo]
            best = min(best, time.process_time() - t)
        return 1000 * best / max(1, len(todo)), found

    checking, whys = least(frame.difference, pairs)
    matches = [(x, y, why) for (x, y), why in zip(pairs, whys) if why is not None]
    telling, told = least(frame.explained, matches)
    return {"pairs": len(pairs), "matches": len(matches), "images": len(names),
            "signature_ms": 1000 * signing / max(1, len(names)), "difference_ms": checking, "explained_ms": telling,
            "reasons": dict(Counter(map(str, whys)).most_common()), "told": dict(Counter(told).most_common()),
            "digest": hashlib.sha256(repr((pairs, whys, told)).encode()).hexdigest()[:16]}


def signature_rates(photos: list[Path], repeat: int, signature_of) -> dict[int, float]:
    """What an image's signature costs (read from its JPEG bytes, q90), by the photo's long side: the sample
    photos scaled to sides on either side of where the detail above 256 px is measured (362 to 2,047 px), which
    takes a decode of its own where the first one was drafted smaller."""
    out = {}
    for side in (320, 480, 1024, 1600, 2304):
        datas = []
        for p in photos:
            im = Image.open(p).convert("RGB")
            scale = side / max(im.size)
            datas.append(jpeg(im.resize((round(im.width * scale), round(im.height * scale)), Image.LANCZOS), 90))
        t = time.perf_counter()
        for _ in range(repeat):
            for data in datas:
                signature_of(data)
        out[side] = 1000 * (time.perf_counter() - t) / (repeat * len(datas))
    return out


if __name__ == "__main__":
    main()
