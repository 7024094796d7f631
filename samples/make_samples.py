#!/usr/bin/env python3
"""Build the demo set: bundled BSD-licensed photos plus near-duplicates made from them.

Usage: make_samples.py OUT_DIR. Copies every file of samples/originals, then for some of them a benign
copy (re-encoded, resized) and an edited one (crop, flip, overlay...), under names that say what they are.
"""
import random
import shutil
import sys
from pathlib import Path

from PIL import Image

from neardup.encoder import augment

HERE = Path(__file__).parent


def main(out: Path) -> None:
    r = random.Random(7)
    out.mkdir(parents=True, exist_ok=True)
    originals = sorted((HERE / "originals").glob("*.jpg"))
    for i, src in enumerate(originals):
        shutil.copy(src, out / src.name)
        if i % 2:
            continue
        im = Image.open(src).convert("RGB")
        augment.jpeg(augment.scale(im, 0.5), 60).save(out / f"{src.stem}_resized.jpg", quality=90)
        augment.edit(im, r, 1).save(out / f"{src.stem}_edited.jpg", quality=90)
    (out / "broken.jpg").write_bytes(originals[0].read_bytes()[:2000])  # a truncated upload
    print(f"{len(list(out.iterdir()))} files in {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
