#!/usr/bin/env python3
"""A benchmark of heavy crops in `make_benchmark.py`'s layout: photos of `../shared/data/extra` (which the dev
benchmark never uses), each with four crops keeping KEEP of its width and height at its four corners
(matches) and a half-size copy (a duplicate), and the other photos as distractors. Corner crops are the
hardest case for a whole-picture embedding: score it with `bench/quality.py --bench DIR`, whose per-family
recall says how many crops of each corner were found.

  bench/corner_crops.py [bench-data/crops] [--keep 0.6] [--photos 60]
"""
from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

from PIL import Image

REPO = Path(__file__).resolve().parents[1]
CORNERS = {"tl": (0, 0), "tr": (1, 0), "bl": (0, 1), "br": (1, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path, nargs="?", default=REPO / "bench-data" / "crops")
    ap.add_argument("--source", type=Path, default=REPO.parent / "shared" / "data" / "extra")
    ap.add_argument("--keep", type=float, default=0.6)
    ap.add_argument("--photos", type=int, default=60)
    ap.add_argument("--seed", type=int, default=3)
    a = ap.parse_args()
    photos = sorted(a.source.rglob("*.jpg"))
    random.Random(a.seed).shuffle(photos)
    a.out.mkdir(parents=True, exist_ok=True)
    groups, level, transforms = [], {}, {}
    for n, path in enumerate(photos):
        im = Image.open(path).convert("RGB")
        im.thumbnail((640, 640))
        if n >= a.photos:
            im.save(a.out / f"d{n - a.photos:03d}.jpg", quality=90)
            continue
        group = [f"o{n:03d}.jpg"]
        im.save(a.out / group[0], quality=90)
        w, h = im.size
        cw, ch = int(w * a.keep), int(h * a.keep)
        for name, (ax, ay) in CORNERS.items():
            x, y = ax * (w - cw), ay * (h - ch)
            group.append(f"c{n:03d}{name}.jpg")
            im.crop((x, y, x + cw, y + ch)).save(a.out / group[-1], quality=85)
            level[group[-1]], transforms[group[-1]] = "match", f"crop {name}"
        group.append(f"r{n:03d}.jpg")
        im.resize((w // 2, h // 2)).save(a.out / group[-1], quality=80)
        level[group[-1]], transforms[group[-1]] = "duplicate", "resize"
        groups.append(group)
    (a.out / "truth.json").write_text(json.dumps({"groups": groups, "level": level, "transforms": transforms}))
    print(f"{len(groups)} photos with 5 copies each, {len(photos) - len(groups)} distractors in {a.out}")


if __name__ == "__main__":
    main()
