#!/usr/bin/env python3
"""What labelling a found pair costs: the same-frame check (encoder/frame/) and its overlay tests (64, 128, 256 px),
per pair, on copies of the bundled sample photos (benign copies, which go through every test, and edits);
and what telling a person about a match costs: its reason (explained(), the report and the queue's status)
and which copy a frame is round (framed_round(), the keeper of a group without duplicates); and what an image's
signature costs by its size. Prints tables and writes JSON.

  bench/labels.py [--repeat 200]
"""
from __future__ import annotations

import argparse
import io
import json
import sys
import time
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
    ap.add_argument("--json", type=Path, default=REPO / "bench" / "results" / "labels.json")
    a = ap.parse_args()
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
